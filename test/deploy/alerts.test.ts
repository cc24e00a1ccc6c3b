// deploy/prometheus/alerts.yml: valid for Prometheus (`promtool check rules`) and behaving as
// intended on synthetic series (`promtool test rules alerts.test.yml`, which pins when each alert
// fires and when it must not).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEPLOY_DIR, readAlertRules } from "./manifests.ts";
import { findTool, runTool } from "./tools.ts";

const promtool = findTool("promtool");
const dir = join(DEPLOY_DIR, "prometheus");

describe.skipIf(promtool === null)("deploy/prometheus/alerts.yml", () => {
  it("passes promtool check rules", () => {
    const result = runTool(promtool as string, ["check", "rules", "alerts.yml"], { cwd: dir });
    expect(result.stderr).toBe("");
    expect(result.stdout).toContain(
      `SUCCESS: ${readAlertRules().groups[0]?.rules.length} rules found`,
    );
    expect(result.status).toBe(0);
  });

  it("passes its unit tests (promtool test rules)", () => {
    const result = runTool(promtool as string, ["test", "rules", "alerts.test.yml"], { cwd: dir });
    expect(`${result.stdout}${result.stderr}`).toContain("SUCCESS");
    expect(result.status).toBe(0);
  });

  it("alerts on each condition an operator must hear about", () => {
    const names = readAlertRules().groups.flatMap((g) => g.rules.map((r) => r.alert));
    expect(names).toEqual([
      "PrebuildsUnprovisioned",
      "PrebuildsIneligible",
      "PrebuildsPresetHardLimited",
      "PrebuildsPresetValidationFailed",
      "PrebuildsReconciliationStalled",
      "PrebuildsNoLeader",
    ]);
  });
});
