// The one-minute version of test/reliability/replicas.test.ts: three (or REPLICAS) built daemons
// against one scratch database while a new template version is promoted every few seconds and
// simulated provisioners build and delete. Prints what it saw; exits 1 if an invariant broke.
//
//   npm run build
//   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node test/stress/replicas.ts
//
// Knobs (environment): DURATION (default 60s), REPLICAS (3), PROMOTE_EVERY (5s), INTERVAL (300ms),
// FAULT (none | terminate-lock-holder | kill-replica; issue #11) and FAULT_EVERY (3s). With
// kill-replica the presets are large (300 + 3 per version) so the Create is running when the
// replica holding the lock is SIGKILLed.
// The URL must let its role create and drop databases; the scratch database is dropped at the end.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { parseDuration } from "../../src/config/duration.ts";
import { migrate } from "../../src/db/migrate.ts";
import { databaseUrl } from "../harness/databaseUrl.ts";
import { runReplicaScenario } from "../reliability/replicaScenario.ts";

const adminUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
if (!adminUrl) {
  process.stderr.write(
    "set TEST_DATABASE_URL to a PostgreSQL server URL whose role may create databases\n",
  );
  process.exit(2);
}
const durationMs = parseDuration(process.env.DURATION ?? "60s") ?? 60_000;
const promoteEveryMs = parseDuration(process.env.PROMOTE_EVERY ?? "5s") ?? 5000;
const replicas = Number(process.env.REPLICAS ?? "3");
const interval = process.env.INTERVAL ?? "300ms";
const faultName = process.env.FAULT ?? "none";
if (!["none", "terminate-lock-holder", "kill-replica"].includes(faultName)) {
  process.stderr.write(
    `FAULT must be none, terminate-lock-holder or kill-replica (got ${JSON.stringify(faultName)})\n`,
  );
  process.exit(2);
}
const fault =
  faultName === "none" ? undefined : (faultName as "terminate-lock-holder" | "kill-replica");
const faultEveryMs = parseDuration(process.env.FAULT_EVERY ?? "3s") ?? 3000;

const name = `prebuildsd_stress_${randomBytes(5).toString("hex")}`;
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = databaseUrl(adminUrl, name);
const pool = new pg.Pool({ connectionString: url, max: 10 });
pool.on("error", () => {});
let failed = false;
try {
  const client = await pool.connect();
  try {
    await migrate(client);
  } finally {
    client.release();
  }
  process.stdout.write(
    `stress: ${replicas} replicas, ${durationMs / 1000}s, a promotion every ${promoteEveryMs / 1000}s, interval ${interval}, fault ${faultName}${fault ? ` every ${faultEveryMs / 1000}s` : ""}\n`,
  );
  const started = performance.now();
  const f = await runReplicaScenario({
    url,
    pool,
    replicas,
    durationMs,
    promoteEveryMs,
    interval,
    ...(fault !== undefined && { fault, faultEveryMs }),
    ...(fault === "kill-replica" && { presets: { large: 300, small: 3 }, provisionerWorkers: 8 }),
  });
  const wall = ((performance.now() - started) / 1000).toFixed(1);
  const checks: [string, boolean, string][] = [
    ["at most one lock holder at any sample", f.maxLockHolders <= 1, `max ${f.maxLockHolders}`],
    [
      "no active pool above desired",
      f.activeOverDesired === 0,
      `${f.activeOverDesired} bad samples; max live − desired ${f.maxActiveExcess}`,
    ],
    [
      "no prebuild created for a preset after it became inactive",
      f.createdAfterInactive === 0,
      `${f.createdAfterInactive}`,
    ],
    ["no slot filled twice", f.slotsFilledTwice === 0, `${f.slotsFilledTwice} preset(s)`],
    ["no half-created prebuild", f.halfCreated === 0, `${f.halfCreated}`],
    ["converged at the end", f.converged, f.converged ? "yes" : "no"],
    fault === undefined
      ? [
          "every replica exited 0 and no cycle failed",
          f.cycles.every((c) => c.exitCode === 0 && c.failed === 0),
          f.cycles.map((c) => `exit ${c.exitCode}, ${c.failed} failed`).join("; "),
        ]
      : [
          "every surviving replica exited 0 (cycles that lost the lock fail by design)",
          f.cycles.every((c) => c.exitCode === 0),
          f.cycles.map((c) => `exit ${c.exitCode}, ${c.failed} failed`).join("; "),
        ],
    ...(fault !== undefined
      ? [["faults injected", f.faults > 0, `${f.faults}`] as [string, boolean, string]]
      : []),
  ];
  const lines = [
    `wall time ${wall}s, ${f.samples} samples, ${f.promotions} promotions, ${f.faults} faults injected (${f.killed} replicas killed)`,
    `max over presets and samples of (live − desired) for active presets: ${f.maxActiveExcess}`,
    `cycles per replica (led / lost the lock / failed):`,
    ...f.cycles.map(
      (c) => `  pid ${c.pid}: ${c.completed} / ${c.notLeader} / ${c.failed} (exit ${c.exitCode})`,
    ),
    `replicas that led at least one cycle: ${f.leaders} of ${f.replicas}; cycles recorded: ${f.runsRecorded}`,
    `prebuilds created: ${f.totalCreated}; provisioner jobs succeeded ${f.provisionerJobs.succeeded}, failed ${f.provisionerJobs.failed}`,
    `most live prebuilds of old versions at once (promotion overlap): ${f.maxInactiveLive}`,
    "",
    ...checks.map(([what, ok, detail]) => `${ok ? "PASS" : "FAIL"}  ${what} (${detail})`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
  failed = checks.some(([, ok]) => !ok);
} finally {
  await pool.end();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
process.exit(failed ? 1 : 0);
