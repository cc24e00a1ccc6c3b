// `prebuildsd demo` (`npm start`): the whole story on one machine with no set-up. A throwaway
// embedded PostgreSQL is migrated and seeded with one template (two versions, two presets each),
// simulated provisioners work the job queue (human jobs first; a few seconds per build; some
// fail), the reconciler runs every few seconds, and the terminal shows it live. While the queue is
// still full, version 2 is promoted and the old version's pending jobs are cancelled.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect, Schedule } from "effect";
import type pg from "pg";
import type { Config } from "../config/config.ts";
import { ConfigError } from "../config/configError.ts";
import { formatDuration, parseDuration } from "../config/duration.ts";
import { promote } from "../controls/promote.ts";
import { metricsRefreshLoop } from "../daemon/daemon.ts";
import { type DatabaseHandle, openDatabase, openScratchDatabase } from "../daemon/database.ts";
import { reconcileCycleFactory } from "../daemon/reconcileCycle.ts";
import { reconcileLoop } from "../daemon/reconcileLoop.ts";
import { reconcilerOptions } from "../daemon/reconcilerOptions.ts";
import { serveHttp } from "../daemon/serveHttp.ts";
import { listenForShutdown } from "../daemon/signals.ts";
import { migrate } from "../db/migrate.ts";
import { autocommit } from "../db/pool.ts";
import { countPrebuildJobsByPreset } from "../db/sql/metrics_sql.ts";
import { createLogger, type Logger } from "../observe/logger.ts";
import { PrebuildMetrics } from "../observe/metrics.ts";
import { outputClosed, printLine } from "../observe/output.ts";
import { ACTION_NAMES } from "../plan/action.ts";
import { planNextCycle } from "../reconciler/index.ts";
import { claimPrebuild } from "../worker/claimPrebuild.ts";
import { DEMO_BACKOFF_INTERVAL_MS, DEMO_HTTP_ADDRESS, DEMO_INTERVAL_MS } from "./demoDefaults.ts";
import { type PresetJobs, renderView, type ViewAction } from "./liveView.ts";
import { startDemoProvisioners } from "./provisioners.ts";
import { countExistingTemplates, seedDemo } from "./seedDemo.ts";

const VIEW_REFRESH_MS = 1000;
const MAX_ACTIONS_SHOWN = 8;

interface DemoOptions {
  readonly durationMs: number;
  readonly provisioners: number;
  readonly databaseUrl: string | null;
  /** Seed into a --database-url that already has templates. */
  readonly force: boolean;
}

function demoOptions(options: Record<string, unknown>): DemoOptions {
  const duration = parseDuration(String(options.duration ?? "60s"));
  if (duration === null || duration <= 0) {
    throw new ConfigError(
      `--duration must be a positive duration like "60s" (got ${JSON.stringify(options.duration)})`,
    );
  }
  const provisioners = Number(options.provisioners ?? "2");
  if (!Number.isInteger(provisioners) || provisioners < 1 || provisioners > 50) {
    throw new ConfigError(
      `--provisioners must be a whole number between 1 and 50 (got ${JSON.stringify(options.provisioners)})`,
    );
  }
  const url = options.databaseUrl;
  return {
    durationMs: duration,
    provisioners,
    databaseUrl: typeof url === "string" ? url : null,
    force: options.force === true,
  };
}

/** The demo's own defaults (demoDefaults.ts) where the operator set nothing. */
function demoConfig(config: Config, options: Record<string, unknown>): Config {
  const intervalSet =
    options.interval !== undefined || process.env.PREBUILDS_RECONCILIATION_INTERVAL;
  const backoffSet =
    options.backoffInterval !== undefined || process.env.PREBUILDS_RECONCILIATION_BACKOFF_INTERVAL;
  const addressSet = options.httpAddress !== undefined || process.env.PREBUILDS_HTTP_ADDRESS;
  return {
    ...config,
    reconciliationInterval: intervalSet ? config.reconciliationInterval : DEMO_INTERVAL_MS,
    backoffInterval: backoffSet ? config.backoffInterval : DEMO_BACKOFF_INTERVAL_MS,
    metricsRefreshInterval: 2000,
    httpAddress: addressSet ? config.httpAddress : DEMO_HTTP_ADDRESS,
  };
}

interface DemoState {
  readonly actions: ViewAction[];
  readonly milestones: { at: Date; text: string }[];
  promoted: boolean;
  /** The prebuild the demo's user claimed, once claimed. */
  claimed: { workspace: string; preset: string; ms: number } | null;
  cycles: number;
  created: number;
  canceled: number;
}

async function jobsByPreset(pool: pg.Pool): Promise<Map<string, PresetJobs>> {
  const rows = await countPrebuildJobsByPreset(autocommit({ pool }));
  const jobs = new Map<string, PresetJobs>();
  for (const row of rows) if (row.presetId !== null) jobs.set(row.presetId, row);
  return jobs;
}

function queuedOnVersion(
  versionName: string,
  planned: Awaited<ReturnType<typeof planNextCycle>>["presets"],
  jobs: Map<string, PresetJobs>,
): number {
  return planned
    .filter((p) => p.preset.templateVersionName === versionName)
    .reduce((n, p) => n + (jobs.get(p.preset.presetId)?.queued ?? 0), 0);
}

/**
 * Whether the demo may seed `databaseUrl`: throws ConfigError when it has templates and --force is
 * absent; returns true when it has some and --force is given (the demo then seeds names of its
 * own). Checked on a short-lived pool that logs nothing, before the demo creates its log directory.
 */
async function checkSeedable(
  databaseUrl: string,
  demo: DemoOptions,
  config: Config,
): Promise<boolean> {
  let templates: number;
  try {
    const db = await openDatabase(
      { ...config, databaseUrl },
      createLogger({ level: "silent", format: "json" }),
    );
    try {
      templates = await countExistingTemplates(db.pool);
    } finally {
      await db.close();
    }
  } catch (cause) {
    throw new Error(`starting the database failed: ${String(cause)}`);
  }
  if (templates > 0 && !demo.force) {
    throw new ConfigError(
      `--database-url points at a database that already has ${templates} template(s); the demo seeds its own template, promotes versions and claims a prebuild there. Use an empty scratch database, or add --force to seed anyway`,
    );
  }
  return templates > 0;
}

/**
 * Runs the demo until `--duration` passes or a signal arrives. `loadConfig` is called after the
 * demo's own options are validated (both throw ConfigError on bad input: the CLI exits 2).
 */
export async function runDemo(
  options: Record<string, unknown>,
  loadConfig: () => Config,
): Promise<void> {
  const demo = demoOptions(options);
  const config = demoConfig(loadConfig(), options);
  // Refuse a database with templates before anything is created or printed (no log directory).
  const forced =
    demo.databaseUrl === null ? false : await checkSeedable(demo.databaseUrl, demo, config);
  const scratch = await mkdtemp(join(tmpdir(), "prebuildsd-demo-"));
  const logFile = join(scratch, "demo.log");
  let pgDir: string | null = null;
  // Until the demo has seeded, its log file holds nothing worth keeping.
  let seeded = false;
  const { createWriteStream } = await import("node:fs");
  const logStream = createWriteStream(logFile);
  // The live view owns the terminal: logs go to a file.
  const logger: Logger = createLogger({
    level: config.logLevel,
    format: "json",
    destination: logStream,
  });
  const interactive = process.stdout.isTTY === true;
  const say = printLine;
  say(`prebuildsd demo: logs in ${logFile}`);

  const program = Effect.scoped(
    Effect.gen(function* () {
      const shutdown = listenForShutdown(logger, 20_000);
      const database: DatabaseHandle = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => {
            if (demo.databaseUrl === null) {
              say("starting a throwaway embedded PostgreSQL…");
              // Its own directory: as root, the server's `postgres` user must be able to enter it.
              return mkdtemp(join(tmpdir(), "prebuildsd-demo-pg-")).then((dir) => {
                pgDir = dir;
                return openScratchDatabase(dir, config, logger);
              });
            }
            return openDatabase({ ...config, databaseUrl: demo.databaseUrl }, logger);
          },
          catch: (cause) =>
            cause instanceof ConfigError
              ? cause
              : new Error(`starting the database failed: ${String(cause)}`),
        }),
        (db) => Effect.promise(() => db.close()),
      );
      const world = yield* Effect.tryPromise({
        try: async () => {
          const client = await database.pool.connect();
          try {
            await migrate(client);
          } finally {
            client.release();
          }
          seeded = true;
          // Names of their own beside an earlier demo's (unique organization and user names).
          return seedDemo(database.pool, forced ? `-${Date.now().toString(36)}` : "");
        },
        catch: (cause) => new Error(`preparing the demo database failed: ${String(cause)}`),
      });
      const metrics = new PrebuildMetrics({
        reconciliationIntervalMs: config.reconciliationInterval,
      });
      const http = yield* serveHttp(config, database, metrics, logger, {
        statusPage: { version: "demo", ttlMs: 1000, refreshSeconds: 2 },
      });
      const provisioners = yield* Effect.acquireRelease(
        Effect.promise(() =>
          startDemoProvisioners(database.pool, world, demo.provisioners, logger, (jobId, ms) =>
            state.milestones.push({
              at: new Date(),
              text: `the running build ${jobId.slice(0, 8)} heard its cancel ${ms.toFixed(0)} ms after cancelJob and stopped: its job ends canceled`,
            }),
          ),
        ),
        (pool) => Effect.promise(() => pool.stop()),
      );

      const state: DemoState = {
        actions: [],
        milestones: [
          {
            at: new Date(),
            text: `seeded ${world.templateName} v1 (active) and v2; ${provisioners.description}`,
          },
        ],
        promoted: false,
        claimed: null,
        cycles: 0,
        created: 0,
        canceled: 0,
      };
      const cycle = reconcileCycleFactory(config, {
        onAction: (event) => {
          state.actions.unshift({
            at: new Date(),
            where: `${event.preset.templateVersionName}/${event.preset.presetName}`,
            type: ACTION_NAMES[event.action._tag],
            outcome: event.outcome,
            text: `${event.detail} — why: ${event.action.reason}`,
          });
          state.actions.splice(MAX_ACTIONS_SHOWN);
          state.created += event.effects.created;
          if (event.effects.canceledJobs > 0) {
            state.canceled += event.effects.canceledJobs;
            state.milestones.push({
              at: new Date(),
              text: `cancelled ${event.effects.canceledJobs} pending job(s) of ${event.preset.templateVersionName}/${event.preset.presetName} (old version) and orphan-deleted their workspaces`,
            });
          }
        },
        onCycle: () => {
          state.cycles++;
        },
      })(database, metrics, logger);

      const started = Date.now();
      let printedMilestones = 0;
      let finished = false;
      const subtitle = () =>
        `template ${world.templateName} · active version ${state.promoted ? "v2" : "v1"} · reconcile every ${formatDuration(config.reconciliationInterval)} · ${provisioners.description} · status page http://${http.address}/ · metrics http://${http.address}/metrics`;
      // The user's side of the story: a ready prebuild handed to a user at once (the claim API a
      // platform calls), and the next cycle building a replacement.
      const claimOne = async (planned: Awaited<ReturnType<typeof planNextCycle>>["presets"]) => {
        const ready = planned.find((p) => p.plan.active && p.plan.state.eligible > 0);
        if (ready === undefined) return;
        const started = performance.now();
        const result = await claimPrebuild(autocommit({ pool: database.pool }), {
          presetId: ready.preset.presetId,
          userId: world.userId,
          workspaceName: `${world.userName}-workspace`,
        });
        if (result.status !== "claimed") return;
        const where = `${ready.preset.templateVersionName}/${ready.preset.presetName}`;
        const ms = Math.round(performance.now() - started);
        state.claimed = { workspace: result.workspaceName, preset: where, ms };
        state.milestones.push({
          at: new Date(),
          text: `user ${world.userName} claimed a ready ${where} prebuild as workspace "${result.workspaceName}" in ${ms} ms (no build to wait for); the next cycle builds a replacement`,
        });
      };
      const refreshView = Effect.promise(async () => {
        const now = new Date();
        const [{ presets: planned }, jobs] = await Promise.all([
          planNextCycle({ pool: database.pool, options: reconcilerOptions(config) }, { at: now }),
          jobsByPreset(database.pool),
        ]);
        const elapsed = Date.now() - started;
        const queuedOld = queuedOnVersion("v1", planned, jobs);
        const promoteNow =
          !state.promoted && state.cycles >= 2 && (queuedOld >= 1 || elapsed > demo.durationMs / 2);
        if (state.claimed === null) await claimOne(planned);
        if (promoteNow) {
          await promote(database.pool, world.templateId, "v2");
          state.promoted = true;
          state.milestones.push({
            at: new Date(),
            text: `promoted v2 while ${queuedOld} job(s) of v1 were still queued: the next cycle cancels them`,
          });
          // And a running build of v1 is cancelled the way an operator would (prebuildsd cancel):
          // the worker hears it by NOTIFY and its build stops.
          const v1 = world.versions.find((v) => v.name === "v1");
          const canceled = v1 ? await provisioners.cancelRunningBuildOf(v1.id) : null;
          if (canceled) {
            state.milestones.push({
              at: new Date(),
              text: `cancelJob(${canceled.jobId.slice(0, 8)}), a running build of v1: ${canceled.result}`,
            });
          }
        }
        const frame = renderView(
          {
            now,
            elapsedMs: elapsed,
            durationMs: demo.durationMs,
            title: "prebuildsd demo",
            subtitle: subtitle(),
            planned,
            jobsByPreset: jobs,
            actions: state.actions,
            milestones: state.milestones,
          },
          process.stdout.columns ?? 120,
        );
        if (finished) return;
        if (interactive) process.stdout.write(`\x1b[H\x1b[2J${frame}\n`);
        else {
          // Not a terminal (CI, a pipe): one line per refresh, and each milestone once.
          for (const m of state.milestones.slice(printedMilestones)) say(`  * ${m.text}`);
          printedMilestones = state.milestones.length;
          const line = planned
            .map(
              (p) =>
                `${p.preset.templateVersionName}/${p.preset.presetName}: ${p.plan.state.actual}/${p.plan.state.desired} running, ${p.plan.state.starting} starting, ${jobs.get(p.preset.presetId)?.queued ?? 0} queued`,
            )
            .join(" · ");
          say(`[${Math.floor(elapsed / 1000)}s] ${line}`);
        }
      }).pipe(Effect.catchCause(() => Effect.void));

      if (!interactive) say(subtitle());
      yield* Effect.forkScoped(metricsRefreshLoop(database, metrics, config, logger));
      yield* Effect.forkScoped(reconcileLoop(cycle, config.reconciliationInterval));
      yield* Effect.forkScoped(Effect.repeat(refreshView, Schedule.spaced(VIEW_REFRESH_MS)));
      // A reader that goes away (`demo | head`) stops the demo like Ctrl-C: cleanly, temp files removed.
      const readerGone = Effect.callback<"output closed">((resume) => {
        const done = () => resume(Effect.succeed("output closed"));
        if (outputClosed.aborted) done();
        else outputClosed.addEventListener("abort", done, { once: true });
        return Effect.sync(() => outputClosed.removeEventListener("abort", done));
      });
      const why = yield* Effect.raceAll([
        Effect.as(Effect.sleep(demo.durationMs), "duration" as const),
        shutdown,
        readerGone,
      ]);
      // One last frame, then a summary below it; the view fiber prints no more.
      yield* refreshView;
      finished = true;
      say(
        `\ndemo finished (${why === "duration" ? `after ${formatDuration(demo.durationMs)}` : why}): ${state.cycles} cycles, ${state.created} prebuilds created, ${state.canceled} pending jobs of the old version cancelled, ${state.claimed ? `1 prebuild claimed by ${world.userName} in ${state.claimed.ms} ms` : "no prebuild was ready to claim yet"}. Logs: ${logFile}`,
      );
    }),
  );
  try {
    await Effect.runPromise(program);
  } finally {
    await new Promise<void>((resolve) => logStream.end(resolve));
    if (pgDir !== null) await rm(pgDir, { recursive: true, force: true });
    if (!seeded) await rm(scratch, { recursive: true, force: true });
  }
}
