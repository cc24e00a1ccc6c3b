// The built binary under a Node.js outside package.json's `engines.node`: exit 2 and one line
// naming the running version, the range and the fix, before it does anything (no database, no
// embedded server).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { LAUNCH_NODE_FLAGS, launchShebang } from "../../src/cli/launchFlags.ts";
import { unsupportedNodeMessage } from "../../src/cli/supportedNode.ts";
import { projectRoot } from "../../src/projectRoot.ts";
import { BIN } from "./cli.ts";

const NODE = join(projectRoot, "node_modules", ".bin", "node");
const RANGE = (
  JSON.parse(readFileSync(join(projectRoot, "package.json"), "utf8")) as {
    engines: { node: string };
  }
).engines.node;

const refusal = (version: string) =>
  `prebuildsd: Node.js ${version} is not supported: prebuildsd needs Node.js ${RANGE} (package.json "engines"); install a Node.js in that range (e.g. the current LTS) and run prebuildsd with it\n`;

/** A Node.js on this machine outside the supported range (a distribution's older one), if any. */
function unsupportedNode(): { path: string; version: string } | null {
  const found = spawnSync("which", ["-a", "node"], { encoding: "utf8" }).stdout ?? "";
  for (const path of new Set([...found.split("\n").filter(Boolean), "/usr/bin/node"])) {
    const version = spawnSync(path, ["--version"], { encoding: "utf8" }).stdout?.trim();
    if (version && unsupportedNodeMessage(version, RANGE) !== null) return { path, version };
  }
  return null;
}

const old = unsupportedNode();

describe("prebuildsd under an unsupported Node.js (built binary)", () => {
  it("exits 2 with one line naming the version, the range and the fix", () => {
    // The running Node.js reports an old version from a preload (works on any machine).
    const result = spawnSync(
      NODE,
      [
        "--import",
        'data:text/javascript,Object.defineProperty(process,"version",{value:"v20.0.0"})',
        ...LAUNCH_NODE_FLAGS,
        BIN,
        "status",
      ],
      // A status that ran would try this database and fail with exit 1, not 2.
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH, DATABASE_URL: "postgres://u@127.0.0.1:1/x" },
      },
    );
    expect(result.stderr).toBe(refusal("v20.0.0"));
    expect(result.stdout).toBe("");
    expect(result.status).toBe(2);
  });

  it.skipIf(old === null)(
    `is refused when installed and run by an older Node.js on the PATH (${old?.path} ${old?.version})`,
    () => {
      // As the kernel runs the shebang line (src/cli/launchFlags.ts), `env` finding that node.
      const [interpreter, ...rest] = launchShebang().slice(2).split(" ");
      const installed = spawnSync(interpreter ?? "", [rest.join(" "), BIN, "--version"], {
        encoding: "utf8",
        env: { PATH: `${dirname(old?.path ?? "")}:${process.env.PATH}` },
      });
      expect(installed.stderr).toBe(refusal(old?.version ?? ""));
      expect(installed.stdout).toBe("");
      expect(installed.status).toBe(2);
    },
  );

  it("runs under the supported Node.js", () => {
    const result = spawnSync(NODE, [...LAUNCH_NODE_FLAGS, BIN, "--version"], { encoding: "utf8" });
    expect(result).toMatchObject({ status: 0, stderr: "" });
  });
});
