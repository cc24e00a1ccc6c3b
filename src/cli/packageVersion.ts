// package.json as the installed prebuildsd ships it: its version (--version, logs and traces) and
// the fields other checks read (supportedNode.ts: engines.node).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../projectRoot.ts";

/** The fields of package.json prebuildsd reads; any may be missing or of another type. */
export interface PackageManifest {
  readonly version?: unknown;
  readonly engines?: { readonly node?: unknown };
}

/** package.json at `path` (default: the installed package's), or null when unreadable. */
export function readPackageManifest(
  path: string = join(projectRoot, "package.json"),
): PackageManifest | null {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as PackageManifest;
  } catch {
    return null;
  }
}

export function packageVersion(): string {
  const version = readPackageManifest()?.version;
  return typeof version === "string" ? version : "0.0.0";
}
