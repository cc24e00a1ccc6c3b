// Several daemons (the built binary) against one database while an operator keeps promoting new
// template versions and simulated provisioners build and delete. A sampler watches, every
// `sampleEveryMs`, who holds the reconciliation lock and every preset's pool. Used by the
// reliability test (about 15 s) and by the one-minute stress script (test/stress/replicas.ts),
// which prints the findings.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { SimulatedProvisioner } from "../../src/provisioner/simulatedProvisioner.ts";
import { type Daemon, startDaemon } from "../e2e/cli.ts";
import { halfCreatedPrebuilds, metric, presetPools } from "./invariants.ts";

export interface ReplicaScenarioOptions {
  /** A migrated database nobody else uses. */
  readonly url: string;
  readonly pool: pg.Pool;
  readonly replicas: number;
  readonly durationMs: number;
  readonly promoteEveryMs: number;
  /** The daemons' PREBUILDS_RECONCILIATION_INTERVAL, e.g. "300ms". */
  readonly interval: string;
  readonly sampleEveryMs?: number;
  /** Presets of every version and their desired instances. */
  readonly presets?: Readonly<Record<string, number>>;
  readonly provisionerWorkers?: number;
  readonly jobDurationMs?: number;
  /**
   * A fault injected every `faultEveryMs` (issue #11): "terminate-lock-holder" ends the session
   * holding the reconciliation lock (pg_terminate_backend); "kill-replica" SIGKILLs the replica
   * holding the lock while its Create runs on the server, and starts a replacement.
   */
  readonly fault?: "terminate-lock-holder" | "kill-replica";
  readonly faultEveryMs?: number;
}

export interface ReplicaFindings {
  readonly replicas: number;
  /** Faults actually injected (a terminated lock session, a killed replica). */
  readonly faults: number;
  /** Replicas SIGKILLed by the fault (their exit codes and cycles are not in `cycles`). */
  readonly killed: number;
  readonly durationMs: number;
  readonly promotions: number;
  readonly samples: number;
  /** Most sessions ever seen holding advisory lock 7 at one instant (must be ≤ 1). */
  readonly maxLockHolders: number;
  /** Per replica: cycles it led (completed), lost to another replica, and failed. */
  readonly cycles: readonly {
    readonly pid: number;
    readonly completed: number;
    readonly notLeader: number;
    readonly failed: number;
    readonly exitCode: number | null;
  }[];
  /** Replicas that recorded at least one cycle in prebuild_reconciliation_runs. */
  readonly leaders: number;
  readonly runsRecorded: number;
  /** Samples in which an active preset had more live prebuilds than desired (must be 0). */
  readonly activeOverDesired: number;
  /** Largest live − desired seen for an active preset (≤ 0 means never above). */
  readonly maxActiveExcess: number;
  /** Most live prebuilds of old versions seen at once: the eventual-consistency overlap. */
  readonly maxInactiveLive: number;
  /** Inactive presets that got a new prebuild after their promotion was seen (must be 0). */
  readonly createdAfterInactive: number;
  /** Presets with more first builds than desired ever (a slot filled twice; must be 0). */
  readonly slotsFilledTwice: number;
  readonly totalCreated: number;
  readonly halfCreated: number;
  /** Converged at the end: active presets exactly at desired, old versions emptied. */
  readonly converged: boolean;
  readonly provisionerJobs: { readonly succeeded: number; readonly failed: number };
}

const DEFAULT_PRESETS = { small: 3, large: 2 } as const;

async function seedTemplate(
  pool: pg.Pool,
  presets: Readonly<Record<string, number>>,
): Promise<{ organizationId: string; templateId: string }> {
  const organizationId = randomUUID();
  const templateId = randomUUID();
  await pool.query("INSERT INTO organizations (id, name) VALUES ($1, $2)", [
    organizationId,
    `replicas-${organizationId.slice(0, 8)}`,
  ]);
  const versionId = randomUUID();
  await pool.query(
    "INSERT INTO templates (id, organization_id, name, active_version_id) VALUES ($1, $2, 'replicated', $3)",
    [templateId, organizationId, versionId],
  );
  await addVersion(pool, { organizationId, templateId }, presets, versionId, "v1");
  return { organizationId, templateId };
}

async function addVersion(
  pool: pg.Pool,
  template: { organizationId: string; templateId: string },
  presets: Readonly<Record<string, number>>,
  versionId: string,
  name: string,
): Promise<void> {
  await pool.query(
    "INSERT INTO template_versions (id, template_id, organization_id, name) VALUES ($1, $2, $3, $4)",
    [versionId, template.templateId, template.organizationId, name],
  );
  for (const [preset, desired] of Object.entries(presets)) {
    await pool.query(
      "INSERT INTO template_version_presets (template_version_id, name, desired_instances) VALUES ($1, $2, $3)",
      [versionId, preset, desired],
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function scrape(daemon: Daemon, base: string | undefined): Promise<string> {
  if (base === undefined || daemon.child.exitCode !== null) return "";
  try {
    return await (await fetch(`${base}/metrics`)).text();
  } catch {
    return "";
  }
}

export async function runReplicaScenario(
  options: ReplicaScenarioOptions,
): Promise<ReplicaFindings> {
  const { pool } = options;
  const presets = options.presets ?? DEFAULT_PRESETS;
  const template = await seedTemplate(pool, presets);
  const provisioner = new SimulatedProvisioner({
    pool,
    organizationId: template.organizationId,
    workers: options.provisionerWorkers ?? 4,
    jobDurationMs: options.jobDurationMs ?? 200,
    failureRate: 0,
    pollIntervalMs: 100,
  });
  await provisioner.start();

  const start = () =>
    startDaemon(["run", "--http-address", "127.0.0.1:0"], {
      DATABASE_URL: options.url,
      PREBUILDS_LOG_LEVEL: "info",
      PREBUILDS_RECONCILIATION_INTERVAL: options.interval,
      PREBUILDS_METRICS_REFRESH_INTERVAL: "1h",
    });
  // Contention, forced: the scenario holds the reconciliation lock until every replica has lost
  // the race at least once, so "others lose the lock" never depends on timing.
  const contender = await pool.connect();
  let contending = true;
  const stopContending = async () => {
    if (!contending) return;
    contending = false;
    await contender.query("SELECT pg_advisory_unlock(7)").catch(() => {});
    contender.release();
  };
  await contender.query("SELECT pg_advisory_lock(7)");
  const daemons: Daemon[] = Array.from({ length: options.replicas }, start);
  const bases: (string | undefined)[] = [];
  const killed: Daemon[] = [];
  let faults = 0;
  try {
    for (const d of daemons) bases.push(await waitForAddress(d));
    try {
      for (const [i, d] of daemons.entries()) {
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
          const body = await scrape(d, bases[i]);
          const lost = metric(body, "prebuildsd_reconciliation_cycles_total", {
            outcome: "not_leader",
          });
          if (lost >= 1) break;
          await sleep(50);
        }
      }
    } finally {
      await stopContending();
    }

    let samples = 0;
    let maxLockHolders = 0;
    let activeOverDesired = 0;
    let maxActiveExcess = Number.NEGATIVE_INFINITY;
    let maxInactiveLive = 0;
    let createdAfterInactive = 0;
    const everCreatedWhenInactive = new Map<string, number>();
    const seenActive = new Set<string>();
    let promotions = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const holders = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
           WHERE l.locktype = 'advisory' AND l.classid = 0 AND l.objid = 7 AND l.objsubid = 1
             AND l.granted AND d.datname = current_database()`,
        );
        maxLockHolders = Math.max(maxLockHolders, holders.rows[0]?.n ?? 0);
        let inactiveLive = 0;
        for (const p of await presetPools(pool)) {
          if (p.active) {
            seenActive.add(p.presetId);
            maxActiveExcess = Math.max(maxActiveExcess, p.live - p.desired);
            if (p.live > p.desired) activeOverDesired++;
            continue;
          }
          inactiveLive += p.live;
          // A new version's presets exist a moment before its promotion: only a preset that was
          // active and then lost it must never gain a prebuild again.
          if (!seenActive.has(p.presetId)) continue;
          const seen = everCreatedWhenInactive.get(p.presetId);
          if (seen === undefined) everCreatedWhenInactive.set(p.presetId, p.everCreated);
          else if (p.everCreated > seen) {
            createdAfterInactive++;
            everCreatedWhenInactive.set(p.presetId, p.everCreated);
          }
        }
        maxInactiveLive = Math.max(maxInactiveLive, inactiveLive);
        samples++;
        await sleep(options.sampleEveryMs ?? 100);
      }
    })();

    const deadline = Date.now() + options.durationMs;
    let injecting = options.fault !== undefined;
    const injector = (async () => {
      while (injecting && Date.now() < deadline) {
        await sleep(options.faultEveryMs ?? 3000);
        if (!injecting) break;
        if (options.fault === "terminate-lock-holder") {
          const r = await pool.query<{ ok: boolean }>(
            `SELECT pg_terminate_backend(l.pid) AS ok FROM pg_locks l
             JOIN pg_database d ON d.oid = l.database
             WHERE l.locktype = 'advisory' AND l.objid = 7 AND l.granted
               AND d.datname = current_database()`,
          );
          if (r.rows.some((row) => row.ok)) faults++;
        } else if (options.fault === "kill-replica") {
          // Wait for a Create running on the server, then kill the replica holding the lock.
          const until = Date.now() + 5000;
          while (Date.now() < until) {
            const active = await pool.query(
              `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
               AND state = 'active' AND query LIKE '-- name: CreatePrebuilds %'`,
            );
            if ((active.rowCount ?? 0) === 0) {
              await sleep(20);
              continue;
            }
            const i = await leaderIndex(daemons, bases);
            if (i === undefined) break;
            const victim = daemons[i] as Daemon;
            victim.child.kill("SIGKILL");
            killed.push(victim);
            faults++;
            const replacement = start();
            daemons[i] = replacement;
            bases[i] = await waitForAddress(replacement);
            break;
          }
        }
      }
    })();
    while (Date.now() + options.promoteEveryMs <= deadline) {
      await sleep(options.promoteEveryMs);
      const versionId = randomUUID();
      await addVersion(pool, template, presets, versionId, `v${promotions + 2}`);
      // What `prebuildsd promote` (or the platform) does: one UPDATE.
      await pool.query(
        "UPDATE templates SET active_version_id = $1, updated_at = now() WHERE id = $2",
        [versionId, template.templateId],
      );
      promotions++;
    }
    await sleep(Math.max(0, deadline - Date.now()));
    injecting = false;
    await injector;

    // Settle: the last version filled and built, every older one emptied.
    const settleBy = Date.now() + 30_000;
    let converged = false;
    while (Date.now() < settleBy && !converged) {
      const pools = await presetPools(pool);
      converged = pools.every((p) => (p.active ? p.live === p.desired : p.live === 0));
      if (!converged) await sleep(200);
    }
    sampling = false;
    await sampler;

    const scraped = await Promise.all(daemons.map((d, i) => scrape(d, bases[i])));
    for (const d of daemons) d.child.kill("SIGTERM");
    const exitCodes = await Promise.all(daemons.map((d) => d.exited));
    const runs = await pool.query<{ replica: string }>(
      "SELECT DISTINCT replica FROM prebuild_reconciliation_runs",
    );
    const runCount = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM prebuild_reconciliation_runs",
    );
    const pools = await presetPools(pool);
    const counters = provisioner.counters();
    return {
      replicas: options.replicas,
      faults,
      killed: killed.length,
      durationMs: options.durationMs,
      promotions,
      samples,
      maxLockHolders,
      cycles: daemons.map((d, i) => ({
        pid: d.child.pid ?? 0,
        completed: metric(scraped[i] ?? "", "prebuildsd_reconciliation_cycles_total", {
          outcome: "completed",
        }),
        notLeader: metric(scraped[i] ?? "", "prebuildsd_reconciliation_cycles_total", {
          outcome: "not_leader",
        }),
        failed: metric(scraped[i] ?? "", "prebuildsd_reconciliation_cycles_total", {
          outcome: "failed",
        }),
        exitCode: exitCodes[i] ?? null,
      })),
      leaders: runs.rows.length,
      runsRecorded: runCount.rows[0]?.n ?? 0,
      activeOverDesired,
      maxActiveExcess,
      maxInactiveLive,
      createdAfterInactive,
      slotsFilledTwice: pools.filter((p) => p.everCreated > p.desired).length,
      totalCreated: pools.reduce((n, p) => n + p.everCreated, 0),
      halfCreated: (await halfCreatedPrebuilds(pool)).length,
      converged,
      provisionerJobs: { succeeded: counters.total.succeeded, failed: counters.total.failed },
    };
  } finally {
    await stopContending();
    for (const d of [...daemons, ...killed]) {
      if (d.child.exitCode === null && d.child.signalCode === null) d.child.kill("SIGKILL");
    }
    await provisioner.stop({ abandon: true });
  }
}

/** The replica whose metrics say it holds the reconciliation lock now, if any. */
async function leaderIndex(
  daemons: readonly Daemon[],
  bases: readonly (string | undefined)[],
): Promise<number | undefined> {
  const bodies = await Promise.all(daemons.map((d, i) => scrape(d, bases[i])));
  const i = bodies.findIndex((b) => metric(b, "prebuildsd_reconciliation_lock_held") === 1);
  return i === -1 ? undefined : i;
}

/** The listening address, from the daemon's start-up log line. */
async function waitForAddress(daemon: Daemon): Promise<string> {
  const line = await daemon.waitForLog("serving /metrics");
  return `http://${String(line.address)}`;
}
