// deploy/systemd/: both units pass `systemd-analyze verify` (unknown keys and bad values are
// reported there), run the binary as documented, and the daemon waits for the migration.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEPLOY_DIR } from "./manifests.ts";
import { findTool, runTool } from "./tools.ts";

const systemdAnalyze = findTool("systemd-analyze");
const dir = join(DEPLOY_DIR, "systemd");
const BINARY = "/usr/local/bin/prebuildsd";
const scratch = mkdtempSync(join(tmpdir(), "prebuildsd-systemd-"));
const unitText = (name: string) => readFileSync(join(dir, name), "utf8");
const directive = (text: string, key: string): string[] =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** verify wants ExecStart's binary to exist: check copies that point at a stand-in. */
function verify(units: Readonly<Record<string, string>>) {
  const standIn = join(scratch, "prebuildsd");
  writeFileSync(standIn, "#!/bin/sh\n", { mode: 0o755 });
  for (const [name, text] of Object.entries(units)) {
    writeFileSync(join(scratch, name), text.replaceAll(BINARY, standIn));
  }
  return runTool(
    systemdAnalyze as string,
    ["verify", "--man=no", ...Object.keys(units).map((n) => `./${n}`)],
    {
      cwd: scratch,
    },
  );
}

describe.skipIf(systemdAnalyze === null)("deploy/systemd", () => {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".service"))
    .sort();

  it("holds the daemon and its migration", () => {
    expect(files).toEqual(["prebuildsd-migrate.service", "prebuildsd.service"]);
  });

  it("passes systemd-analyze verify with no warning", () => {
    const result = verify(Object.fromEntries(files.map((f) => [f, unitText(f)])));
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it("reports a misspelt directive (the check is not a no-op)", () => {
    const broken = unitText("prebuildsd.service").replace("NoNewPrivileges=", "NoNewPrivilegs=");
    expect(verify({ "prebuildsd.service": broken }).stderr).toContain(
      "Unknown key 'NoNewPrivilegs'",
    );
  });

  it("runs `prebuildsd run` after `prebuildsd migrate`, unprivileged", () => {
    const daemon = unitText("prebuildsd.service");
    expect(directive(daemon, "ExecStart")).toEqual([`${BINARY} run`]);
    expect(directive(daemon, "After").join(" ")).toContain("prebuildsd-migrate.service");
    expect(directive(daemon, "Wants").join(" ")).toContain("prebuildsd-migrate.service");
    expect(directive(daemon, "DynamicUser")).toEqual(["yes"]);
    expect(directive(daemon, "KillSignal")).toEqual(["SIGTERM"]);
    const migrate = unitText("prebuildsd-migrate.service");
    expect(directive(migrate, "ExecStart")).toEqual([`${BINARY} migrate`]);
    expect(directive(migrate, "Type")).toEqual(["oneshot"]);
  });
});
