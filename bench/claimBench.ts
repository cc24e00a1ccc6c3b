// Claim latency (issue #16's "claims by index"): concurrent users claiming ready prebuilds of
// random active presets through the shipped ClaimPrebuiltWorkspace, on a generated fleet, after
// its cycles were measured (claims change ownership, so they come last). Each claimer has its own
// connection and claims one after another; the latency is the statement's round trip. Its floor:
// the same claimers alternate each claim with the cheapest committed write there is (one row
// updated by primary key, no trigger), so both share the machine's noise, and what is left between
// the two is the claim's own cost. On a 2-core machine ten clients queue for the CPU, and the
// floor's p99 alone is several milliseconds. A platform claims over pooled connections: each
// claimer's connection first makes one claim that is not in the figures (reported on its own),
// because the first statement on a new server process loads its catalog caches and compiles the
// triggers' functions (30–70 ms once per connection here), which would otherwise set the p99.
// Each claimed prebuild is handed back to the pool (an unmeasured update of its owner), so the
// pools stay full at every fleet size, as the reconciler keeps them, and S's 1,000 prebuilds serve
// as many claims as L's. 200 claims per claimer: with 50, the p99 was the 5th-slowest of 500 and
// was set by each connection's first claims (PL/pgSQL's per-call plans before migration 0054) and
// by the other claimers' disconnects (the slowest 15 of 500 sat at positions 0–3 and 46–49 of
// their claimer's 50); the connections now close together, after every claimer has finished.
// The bench runs it in a child process (probeClaims), as a platform's own process would claim: in
// the harness, which holds the fleet's floor reads, its garbage collections landed in the claims'
// latencies (p99 13.3 ms at XL in the harness, 8.6–10.9 ms in four child processes).
import { randomUUID } from "node:crypto";
import pg from "pg";
import { claimPrebuiltWorkspace } from "../src/db/sql/queue_sql.ts";
import { PREBUILDS_SYSTEM_USER_ID } from "../src/prebuildsUser.ts";
import { percentile, type Summary, summarize } from "./percentiles.ts";

export interface ClaimFigures {
  readonly claimers: number;
  readonly claims: number;
  /** Measured claims that found no ready prebuild (the preset's pool was empty). */
  readonly misses: number;
  /** Milliseconds per claim statement, all claimers together. */
  readonly latencyMs: Summary;
  readonly p99Ms: number;
  /** The floor: milliseconds per one-row primary-key update, interleaved with the claims. */
  readonly floorMs: Summary;
  readonly floorP99Ms: number;
  /** Milliseconds of each connection's first, unmeasured claim (a new server process). */
  readonly coldFirstClaimMs: Summary;
}

/** One committed row write by primary key; users has no trigger (migrations 0042–0048). */
const FLOOR_SQL = "UPDATE users SET created_at = created_at WHERE id = $1";

/** Hands a claimed prebuild back to the pool (not measured): its owner is the prebuilds user again. */
const UNCLAIM_SQL = "UPDATE workspaces SET owner_id = $1 WHERE id = $2";

export interface ClaimBenchOptions {
  readonly claimers: number;
  readonly claimsPerClaimer: number;
}

/** `options.claimers` concurrent claimers on the fleet at `url`; throws if no active preset. */
export async function benchClaims(url: string, options: ClaimBenchOptions): Promise<ClaimFigures> {
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  let presets: string[];
  let users: string[];
  try {
    const active = await setup.query<{ id: string }>(
      `SELECT tvp.id FROM template_version_presets tvp
       JOIN templates t ON t.active_version_id = tvp.template_version_id
       WHERE tvp.desired_instances IS NOT NULL AND NOT t.deleted`,
    );
    presets = active.rows.map((r) => r.id);
    const people = await setup.query<{ id: string }>(
      "SELECT id FROM users WHERE id <> $1 LIMIT $2",
      [PREBUILDS_SYSTEM_USER_ID, options.claimers],
    );
    users = people.rows.map((r) => r.id);
  } finally {
    await setup.end();
  }
  if (presets.length === 0 || users.length === 0)
    throw new Error("claims: no active preset or user");
  const latencies: number[] = [];
  const floor: number[] = [];
  const cold: number[] = [];
  let misses = 0;
  const clients: pg.Client[] = [];
  const claimer = async (k: number) => {
    const client = new pg.Client({ connectionString: url });
    clients.push(client);
    await client.connect();
    const userId = users[k % users.length] ?? "";
    const claim = async () => {
      const started = performance.now();
      const claimed = await claimPrebuiltWorkspace(client, {
        allowPreviousVersion: false,
        newUserId: userId,
        newName: `bench-claim-${randomUUID().slice(0, 12)}`,
        now: null,
        autostartSchedule: null,
        nextStartAt: null,
        ttl: null,
        presetId: presets[Math.floor(Math.random() * presets.length)] ?? "",
      });
      const ms = performance.now() - started;
      if (claimed !== null) await client.query(UNCLAIM_SQL, [PREBUILDS_SYSTEM_USER_ID, claimed.id]);
      return { ms, found: claimed !== null };
    };
    cold.push((await claim()).ms);
    for (let i = 0; i < options.claimsPerClaimer; i++) {
      const { ms, found } = await claim();
      latencies.push(ms);
      if (!found) misses++;
      const floorStarted = performance.now();
      await client.query(FLOOR_SQL, [userId]);
      floor.push(performance.now() - floorStarted);
    }
  };
  try {
    await Promise.all(Array.from({ length: options.claimers }, (_, k) => claimer(k)));
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
  return {
    claimers: options.claimers,
    claims: latencies.length,
    misses,
    latencyMs: summarize(latencies),
    p99Ms: percentile(latencies, 99),
    floorMs: summarize(floor),
    floorP99Ms: percentile(floor, 99),
    coldFirstClaimMs: summarize(cold),
  };
}

/**
 * `benchClaims` in a child process (this Node binary, no extra flags), so that the harness's own
 * garbage collections are not timed as claims. Throws with the child's stderr if it fails.
 */
export async function probeClaims(url: string, options: ClaimBenchOptions): Promise<ClaimFigures> {
  const { execFile } = await import("node:child_process");
  const { promisify } = await import("node:util");
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [import.meta.filename, url, String(options.claimers), String(options.claimsPerClaimer)],
    { maxBuffer: 1024 * 1024 },
  );
  const line = stdout.trim().split("\n").at(-1) ?? "";
  return JSON.parse(line) as ClaimFigures;
}

// Usage (what probeClaims runs): node bench/claimBench.ts <database url> <claimers> <claims each>
if (import.meta.main) {
  const [url, claimers, perClaimer] = process.argv.slice(2);
  if (!url)
    throw new Error("usage: node bench/claimBench.ts <database url> <claimers> <claims each>");
  const figures = await benchClaims(url, {
    claimers: Number.parseInt(claimers ?? "10", 10),
    claimsPerClaimer: Number.parseInt(perClaimer ?? "200", 10),
  });
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}
