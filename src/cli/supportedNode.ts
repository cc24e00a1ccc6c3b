// Which Node.js versions prebuildsd runs on: package.json's `engines.node`, checked with semver
// (npm's own reading of a range) before the CLI does anything else. Under an older Node.js it
// started, and failed later on whatever it lacked, or worked by chance.
import satisfies from "semver/functions/satisfies.js";
import { readPackageManifest } from "./packageVersion.ts";

/**
 * package.json's `engines.node`, or undefined when there is none or the file cannot be read: then
 * nothing is checked (the check must never be what stops a working install).
 */
export function supportedNodeRange(packageJson?: string): string | undefined {
  const range = readPackageManifest(packageJson)?.engines?.node;
  return typeof range === "string" ? range : undefined;
}

/**
 * The one line to print when `running` (e.g. "v20.20.2") is outside `range`; null when it is
 * inside, or when there is no range to hold it to. Pre-releases count (a v26 nightly satisfies
 * ">=22.19"), as they would not by semver's default.
 */
export function unsupportedNodeMessage(running: string, range: string | undefined): string | null {
  if (range === undefined) return null;
  if (satisfies(running, range, { includePrerelease: true })) return null;
  return `Node.js ${running} is not supported: prebuildsd needs Node.js ${range} (package.json "engines"); install a Node.js in that range (e.g. the current LTS) and run prebuildsd with it`;
}
