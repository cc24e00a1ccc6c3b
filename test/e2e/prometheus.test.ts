// A real scrape (issue #14): the built daemon serves /metrics, a real Prometheus (the Debian
// package) scrapes it and evaluates deploy/prometheus/alerts.yml, and every query of the Grafana
// dashboard deploy/grafana/prebuildsd.json parses, names only metrics the daemon serves, and
// returns data from that Prometheus. `promtool check metrics` accepts the exposition, and the
// probe and scrape paths the Kubernetes manifests use answer on the running daemon.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parser } from "@prometheus-io/lezer-promql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemo } from "../../src/demo/seedDemo.ts";
import { MISNAMED_DEFAULT_METRICS } from "../../src/observe/metrics.ts";
import { projectRoot } from "../../src/projectRoot.ts";
import { only, readManifests } from "../deploy/manifests.ts";
import { findTool, runTool } from "../deploy/tools.ts";
import {
  type SeededTemplate,
  seedBuild,
  seedPrebuild,
  seedPreset,
  seedTemplate,
  seedWorkspace,
} from "../fixtures/seed.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { type Daemon, startDaemon } from "./cli.ts";
import { eventually, type PrometheusServer, startPrometheus } from "./prometheusServer.ts";

const prometheusBinary = findTool("prometheus");
const promtool = findTool("promtool");
const dashboard = JSON.parse(
  readFileSync(join(projectRoot, "deploy", "grafana", "prebuildsd.json"), "utf8"),
) as { panels: Panel[]; templating: { list: { query?: { query?: string } | string }[] } };
interface Panel {
  readonly title: string;
  readonly targets?: { readonly expr: string }[];
  readonly panels?: Panel[];
}

let db: TestDatabase;
let daemon: Daemon;
let prometheus: PrometheusServer;
let base: string;
let exposition: string;

/** Every sample name in a Prometheus text exposition. */
function sampleNames(text: string): Set<string> {
  return new Set(
    text
      .split("\n")
      .filter((l) => l !== "" && !l.startsWith("#"))
      .map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)?.[0] ?? l),
  );
}

/** The metric names a PromQL expression selects; throws on a syntax error. */
function metricNames(expr: string): string[] {
  const names: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from} in: ${expr}`);
      if (node.name === "VectorSelector") {
        const first = node.node.firstChild;
        if (first?.name === "Identifier") names.push(expr.slice(first.from, first.to));
      }
    },
  });
  return names;
}

/** Grafana's variables as a query runs with "All" selected and a 15 s rate interval. */
const withVariables = (expr: string) =>
  expr
    .replaceAll("$__rate_interval", "15s")
    .replaceAll("$__range", "1m")
    .replaceAll("$template", ".*")
    .replaceAll("$preset", ".*");

const dashboardQueries = (panels: readonly Panel[]): { panel: string; expr: string }[] =>
  panels.flatMap((p) => [
    ...(p.targets ?? []).map((t) => ({ panel: p.title, expr: withVariables(t.expr) })),
    ...dashboardQueries(p.panels ?? []),
  ]);

beforeAll(async () => {
  if (prometheusBinary === null) return;
  db = await freshDatabase();
  const world = await seedDemo(db.pool);
  const demo: SeededTemplate = {
    organizationId: world.organizationId,
    templateId: world.templateId,
    versionIds: world.versions.map((v) => v.id),
    activeVersionId: world.versions[0]?.id as string,
  };
  const small = await db.pool.query<{ id: string }>(
    "SELECT id FROM template_version_presets WHERE template_version_id = $1 AND name = 'small'",
    [demo.activeVersionId],
  );
  const smallId = small.rows[0]?.id as string;
  // A claim and a regular creation, so the hit rate has both terms.
  const alice = world.userId; // the demo seeds a platform user
  await seedPrebuild(db.pool, { template: demo, presetId: smallId, ownerId: alice });
  const own = await seedWorkspace(db.pool, { template: demo, ownerId: alice });
  await seedBuild(db.pool, {
    template: demo,
    workspaceId: own,
    versionId: demo.activeVersionId,
    buildNumber: 1,
    presetId: smallId,
    initiatorId: alice,
  });
  // A preset at the failure hard limit (three failed builds) and one that failed validation.
  const flaky = await seedTemplate(db.pool, {
    name: "flaky",
    organizationId: world.organizationId,
  });
  const broken = await seedPreset(db.pool, { versionId: flaky.activeVersionId, name: "broken" });
  for (let i = 0; i < 3; i++) {
    await seedPrebuild(db.pool, { template: flaky, presetId: broken, state: "failed" });
  }
  await seedPreset(db.pool, {
    versionId: flaky.activeVersionId,
    name: "invalid",
    prebuildStatus: "validation_failed",
  });

  daemon = startDaemon(["run", "--http-address", "127.0.0.1:0"], {
    DATABASE_URL: db.url,
    PREBUILDS_RECONCILIATION_INTERVAL: "1h",
    PREBUILDS_METRICS_REFRESH_INTERVAL: "1s",
  });
  const listening = await daemon.waitForLog("serving /metrics");
  base = `http://${String(listening.address)}`;
  await daemon.waitForLog("reconciliation cycle completed");
  prometheus = await startPrometheus(prometheusBinary, {
    targets: [String(listening.address)],
    ruleFiles: [join(projectRoot, "deploy", "prometheus", "alerts.yml")],
  });
  // Enough scrapes for the dashboard's rate() windows (15 s) to hold several samples.
  await eventually("five scrapes", async () => {
    const [up] = await prometheus.query('count_over_time(up{job="prebuildsd"}[15s])');
    return up && Number(up.value[1]) >= 5 ? true : undefined;
  });
  exposition = await (await fetch(`${base}/metrics`)).text();
}, 120_000);

afterAll(async () => {
  await prometheus?.stop();
  if (daemon && daemon.child.exitCode === null) daemon.child.kill("SIGKILL");
  await db?.drop();
});

describe.skipIf(prometheusBinary === null)("a real Prometheus scraping the daemon", () => {
  it("scrapes the target healthy and stores a prebuild gauge with the daemon's value", async () => {
    const [up] = await prometheus.query('up{job="prebuildsd"}');
    expect(up?.value[1]).toBe("1");
    const desired = await prometheus.query(
      'coderd_prebuilt_workspaces_desired{template_name="dev-environment",preset_name="small"}',
    );
    expect(desired.map((s) => s.value[1])).toEqual(["4"]);
    // The first cycle queued v1's pools (small 4, large 3; the claimed prebuild is alice's now)
    // and nothing for the hard-limited or invalid preset; no provisioner runs, so all still wait.
    // (Waited for: the sampler may have refreshed just before that cycle's writes.)
    const pending = await eventually(
      "the queued jobs in the sample",
      async () => {
        const samples = await prometheus.query(
          'prebuildsd_provisioner_jobs{status="pending",initiator="prebuilds"}',
        );
        return samples[0]?.value[1] === "7" ? samples : undefined;
      },
      30_000,
    ).catch(() =>
      prometheus.query('prebuildsd_provisioner_jobs{status="pending",initiator="prebuilds"}'),
    );
    expect(pending.map((s) => s.value[1])).toEqual(["7"]);
  });

  it("fires the hard-limit alert for the failing preset only, and holds the unprovisioned one pending", async () => {
    const alerts = await eventually("the hard-limit alert to fire", async () => {
      const response = await fetch(`${prometheus.url}/api/v1/alerts`);
      const body = (await response.json()) as {
        data: { alerts: { labels: Record<string, string>; state: string }[] };
      };
      const fired = body.data.alerts.some(
        (a) => a.labels.alertname === "PrebuildsPresetHardLimited" && a.state === "firing",
      );
      return fired ? body.data.alerts : undefined;
    });
    const state = (name: string, preset: string) =>
      alerts.find((a) => a.labels.alertname === name && a.labels.preset_name === preset)?.state;
    expect(alerts.filter((a) => a.labels.alertname === "PrebuildsPresetHardLimited")).toHaveLength(
      1,
    );
    expect(state("PrebuildsPresetHardLimited", "broken")).toBe("firing");
    expect(state("PrebuildsPresetValidationFailed", "invalid")).toBe("firing");
    // desired − running > 0 for the demo's pools (nothing provisions), but `for: 10m`.
    expect(state("PrebuildsUnprovisioned", "small")).toBe("pending");
  });

  it.each(dashboardQueries(dashboard.panels))(
    "dashboard panel %# ($panel) returns data from Prometheus",
    async ({ expr }) => {
      const names = metricNames(expr);
      expect(names.length).toBeGreaterThan(0);
      const served = sampleNames(exposition);
      for (const name of names) expect(served, `${name} in /metrics`).toContain(name);
      expect((await prometheus.query(expr)).length, expr).toBeGreaterThan(0);
    },
  );

  it("names only served metrics in its variables and in the alerts", () => {
    const served = sampleNames(exposition);
    const variableMetrics = dashboard.templating.list
      .map((v) => (typeof v.query === "object" ? v.query.query : v.query) ?? "")
      .flatMap((q) => /label_values\(([a-zA-Z_:][\w:]*)/.exec(q)?.slice(1) ?? []);
    expect(variableMetrics).toEqual([
      "coderd_prebuilt_workspaces_desired",
      "coderd_prebuilt_workspaces_desired",
    ]);
    const alerts = only(readManifests(), "PrometheusRule").spec.groups.flatMap(
      (g: { rules: { expr: string }[] }) => g.rules.flatMap((r) => metricNames(r.expr)),
    ) as string[];
    for (const name of [...variableMetrics, ...alerts]) expect(served).toContain(name);
  });

  it("serves an exposition promtool check metrics accepts", () => {
    for (const name of MISNAMED_DEFAULT_METRICS)
      expect(sampleNames(exposition)).not.toContain(name);
    expect(exposition).toContain("nodejs_active_handles{");
    const result = runTool(promtool as string, ["check", "metrics"], { input: exposition });
    expect(`${result.stdout}${result.stderr}`).toBe("");
    expect(result.status).toBe(0);
  });

  it("answers the probe and scrape paths the Kubernetes manifests use", async () => {
    const manifests = readManifests();
    const container = only(manifests, "Deployment").spec.template.spec.containers[0];
    const liveness = await fetch(`${base}${container.livenessProbe.httpGet.path}`);
    const readiness = await fetch(`${base}${container.readinessProbe.httpGet.path}`);
    expect([liveness.status, await liveness.text()]).toEqual([200, "ok\n"]);
    expect([readiness.status, await readiness.text()]).toEqual([200, "ready\n"]);
    const [endpoint] = only(manifests, "ServiceMonitor").spec.endpoints;
    expect((await fetch(`${base}${endpoint.path}`)).status).toBe(200);
  });
});
