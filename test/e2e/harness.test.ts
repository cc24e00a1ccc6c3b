// The test harness says which PostgreSQL a run uses and leaves no directory behind (issue #14):
// a nested `vitest run` of one small file, on the embedded server (no TEST_DATABASE_URL).
import { spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { projectRoot } from "../../src/projectRoot.ts";

let tmp: string | undefined;

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

it("names the server it chose and removes the embedded server's directory", async () => {
  tmp = await mkdtemp(join(tmpdir(), "prebuildsd-harness-test-"));
  // As root the embedded server runs as `postgres`, which must enter its directory.
  await chmod(tmp, 0o755);
  const { PATH, HOME } = process.env;
  const output = await new Promise<{ code: number | null; text: string }>((resolve, reject) => {
    const child = spawn(
      join(projectRoot, "node_modules", ".bin", "vitest"),
      ["run", "test/unit/cli/roughEdgeWording.test.ts"],
      { cwd: projectRoot, env: { PATH, HOME, TMPDIR: tmp, CI: "1" } },
    );
    let text = "";
    child.stdout.on("data", (c: Buffer) => {
      text += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      text += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, text }));
  });
  expect(output.code, output.text).toBe(0);
  expect(output.text).toMatch(
    /prebuildsd tests: PostgreSQL \d+\.\d+ at 127\.0\.0\.1:\d+, from an embedded PostgreSQL in \S+prebuildsd-test-pg-\w+ \(set TEST_DATABASE_URL to use another\)/,
  );
  const left = await readdir(tmp);
  expect(left.filter((name) => name.startsWith("prebuildsd-test-pg-"))).toEqual([]);
}, 180_000);
