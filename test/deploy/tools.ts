// External tools some tests run (promtool, prometheus, systemd-analyze). `.ci/run` installs
// them; a missing one fails the test with the install command, unless a developer without them
// sets PREBUILDSD_SKIP_MISSING_TOOLS=1 (ignored under CI, where nothing may be skipped).
import { spawnSync } from "node:child_process";

/** Where each tool comes from on Debian. */
const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  promtool: "prometheus",
  prometheus: "prometheus",
  "systemd-analyze": "systemd",
};

/** The tool's path; null only when skipping is allowed (see above); otherwise throws naming the
 *  Debian package to install. */
export function findTool(name: string): string | null {
  const found = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const path = found.stdout.trim();
  if (found.status === 0 && path !== "") return path;
  if (process.env.PREBUILDSD_SKIP_MISSING_TOOLS === "1" && !process.env.CI) return null;
  throw new Error(
    `${name} is not installed: apt-get install ${DEBIAN_PACKAGE[name] ?? name} (.ci/run does), or set PREBUILDSD_SKIP_MISSING_TOOLS=1 to skip these tests locally`,
  );
}

export interface ToolResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a tool to completion (at most 60 s), with `input` on its standard input. */
export function runTool(
  path: string,
  args: readonly string[],
  options: { readonly input?: string; readonly cwd?: string } = {},
): ToolResult {
  const result = spawnSync(path, args, {
    encoding: "utf8",
    timeout: 60_000,
    ...(options.input !== undefined && { input: options.input }),
    ...(options.cwd !== undefined && { cwd: options.cwd }),
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
