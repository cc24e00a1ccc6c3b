// Claim latency (issue #16's "claims by index"): concurrent users claiming ready prebuilds of
// random active presets through the shipped ClaimPrebuiltWorkspace, on a generated fleet, after
// its cycles were measured (claims change ownership, so they come last). Each claimer has its own
// connection and claims one after another; the latency is the statement's round trip.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { claimPrebuiltWorkspace } from "../src/db/sql/queue_sql.ts";
import { PREBUILDS_SYSTEM_USER_ID } from "../src/prebuildsUser.ts";
import { percentile, type Summary, summarize } from "./percentiles.ts";

export interface ClaimFigures {
  readonly claimers: number;
  readonly claims: number;
  /** Claims that found no ready prebuild (the preset's pool was empty). */
  readonly misses: number;
  /** Milliseconds per claim statement, all claimers together. */
  readonly latencyMs: Summary;
  readonly p99Ms: number;
}

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
  let misses = 0;
  const claimer = async (k: number) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (let i = 0; i < options.claimsPerClaimer; i++) {
        const presetId = presets[Math.floor(Math.random() * presets.length)] ?? "";
        const started = performance.now();
        const claimed = await claimPrebuiltWorkspace(client, {
          allowPreviousVersion: false,
          newUserId: users[k % users.length] ?? "",
          newName: `bench-claim-${randomUUID().slice(0, 12)}`,
          now: null,
          autostartSchedule: null,
          nextStartAt: null,
          ttl: null,
          presetId,
        });
        latencies.push(performance.now() - started);
        if (claimed === null) misses++;
      }
    } finally {
      await client.end();
    }
  };
  await Promise.all(Array.from({ length: options.claimers }, (_, k) => claimer(k)));
  return {
    claimers: options.claimers,
    claims: latencies.length,
    misses,
    latencyMs: summarize(latencies),
    p99Ms: percentile(latencies, 99),
  };
}
