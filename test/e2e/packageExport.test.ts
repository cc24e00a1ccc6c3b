// The package export platforms import (issue #12): `prebuildsd/worker` resolves through
// package.json "exports" to the built runtime, with its type declarations beside it.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { projectRoot } from "../../src/projectRoot.ts";

const NODE = join(projectRoot, "node_modules", ".bin", "node");

describe("prebuildsd/worker", () => {
  it("resolves to the built runtime with its API and type declarations", () => {
    const probe = spawnSync(
      NODE,
      [
        "--input-type=module",
        "-e",
        'const m = await import("prebuildsd/worker"); console.log(JSON.stringify(Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v]))));',
      ],
      { cwd: projectRoot, encoding: "utf8" },
    );
    expect(probe.stderr).toBe("");
    const exported = JSON.parse(probe.stdout) as Record<string, string>;
    expect(exported).toMatchObject({
      startWorker: "function",
      cancelJob: "function",
      claimPrebuild: "function",
      workerMetrics: "function",
      tagsSatisfy: "function",
      CANCEL_RESULTS: "object",
    });
    expect(existsSync(join(projectRoot, "dist", "src", "worker", "index.d.ts"))).toBe(true);
  });
});
