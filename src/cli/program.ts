// The `prebuildsd` command line: one commander program, every command with --help. Actions return
// an exit code; errors are turned into exit codes by main.ts.
import { Command } from "commander";
import type { SettingKey } from "../config/settings.ts";
import { setCancelPolicy } from "../controls/cancelPolicy.ts";
import { invalidate } from "../controls/invalidate.ts";
import { promote } from "../controls/promote.ts";
import { printLine } from "../observe/output.ts";
import { commandContext } from "./commandContext.ts";
import { cancelJobs, cancelsJson, checkJobIds, describeCancels } from "./commands/cancel.ts";
import { checkCancelPolicy, describeCancelPolicy } from "./commands/cancelPolicy.ts";
import { describeInvalidation } from "./commands/invalidate.ts";
import { applyMigrations, describeMigrations } from "./commands/migrate.ts";
import { setPaused } from "./commands/pause.ts";
import { describePromotion } from "./commands/promote.ts";
import { describeStatus, readStatus } from "./commands/status.ts";
import { EXIT_OK } from "./exitCodes.ts";
import {
  addSettingOptions,
  DAEMON_SETTINGS,
  DATABASE_SETTINGS,
  EXECUTOR_SETTINGS,
  LOG_SETTINGS,
  PLANNER_SETTINGS,
} from "./settingOptions.ts";
import { withDatabase } from "./withDatabase.ts";

export type ExitCode = number;
type Action = (...args: never[]) => Promise<ExitCode>;

const ONE_SHOT = [...DATABASE_SETTINGS, ...LOG_SETTINGS] as const;
const RECONCILE = [...ONE_SHOT, ...PLANNER_SETTINGS, ...EXECUTOR_SETTINGS] as const;
const RUN = [...RECONCILE, ...DAEMON_SETTINGS] as const;
const PLAN = [...ONE_SHOT, ...PLANNER_SETTINGS] as const;
const DEMO = [
  ...LOG_SETTINGS,
  "reconciliationInterval",
  "backoffInterval",
  "httpAddress",
] as const satisfies readonly SettingKey[];

/** `commands` is filled in by main.ts (run, reconcile, plan, demo load heavier modules lazily). */
export interface HeavyCommands {
  readonly run: (
    options: Record<string, unknown>,
    keys: readonly SettingKey[],
  ) => Promise<ExitCode>;
  readonly reconcile: (
    options: Record<string, unknown>,
    keys: readonly SettingKey[],
  ) => Promise<ExitCode>;
  readonly plan: (
    options: Record<string, unknown>,
    keys: readonly SettingKey[],
  ) => Promise<ExitCode>;
  readonly demo: (
    options: Record<string, unknown>,
    keys: readonly SettingKey[],
  ) => Promise<ExitCode>;
}

export function buildProgram(
  version: string,
  heavy: HeavyCommands,
  setExitCode: (code: ExitCode) => void,
): Command {
  const program = new Command("prebuildsd")
    .description(
      "Keeps pools of prebuilt workspaces warm for every preset of every template's active version.",
    )
    .version(version)
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride();

  const action =
    <A extends Action>(fn: A) =>
    async (...args: Parameters<A>): Promise<void> => {
      setExitCode(await fn(...args));
    };
  const sub = (name: string, description: string, keys: readonly SettingKey[]): Command =>
    addSettingOptions(program.command(name).description(description), keys);

  sub(
    "run",
    "Run the daemon: a cycle at start, then one every interval; serves /metrics, /healthz, /readyz",
    RUN,
  ).action(action((options: Record<string, unknown>) => heavy.run(options, RUN)));

  sub("migrate", "Apply the database migrations and exit", ONE_SHOT).action(
    action(async (options: Record<string, unknown>) => {
      const context = commandContext(options, ONE_SHOT);
      printLine(
        describeMigrations(
          await withDatabase(context, applyMigrations, { requireCurrentSchema: false }),
        ),
      );
      return EXIT_OK;
    }),
  );

  sub(
    "reconcile",
    "Run one reconciliation cycle and print a summary (exit 0 even if some actions failed, 1 if the cycle could not run)",
    RECONCILE,
  )
    .requiredOption("--once", "run exactly one cycle (required: `run` is the daemon)")
    .option("--json", "print the cycle's summary as JSON (the fields `status --json` uses)")
    .action(action((options: Record<string, unknown>) => heavy.reconcile(options, RECONCILE)));

  sub("plan", "Print what the next cycle would do for every preset, writing nothing", PLAN)
    .option("--json", "print JSON instead of a table")
    .option(
      "--at <time>",
      "plan as of this ISO 8601 time with an offset (e.g. 2025-06-01T09:30:00Z) instead of now",
    )
    .action(action((options: Record<string, unknown>) => heavy.plan(options, PLAN)));

  sub(
    "status",
    "Show whether reconciliation is paused, presets by health and the last cycle",
    ONE_SHOT,
  )
    .option("--json", "print JSON")
    .action(
      action(async (options: Record<string, unknown>) => {
        const context = commandContext(options, ONE_SHOT);
        const status = await withDatabase(context, readStatus);
        printLine(options.json ? JSON.stringify(status, null, 2) : describeStatus(status));
        return EXIT_OK;
      }),
    );

  for (const [name, paused, description] of [
    ["pause", true, "Pause reconciliation on every replica (queued jobs keep running)"],
    ["resume", false, "Resume reconciliation"],
  ] as const) {
    sub(name, description, ONE_SHOT).action(
      action(async (options: Record<string, unknown>) => {
        const context = commandContext(options, ONE_SHOT);
        printLine(await withDatabase(context, (pool) => setPaused(pool, paused)));
        return EXIT_OK;
      }),
    );
  }

  sub("promote", "Make <version> the active version of <template> (each by name or id)", ONE_SHOT)
    .argument("<template>", "template name or id")
    .argument("<version>", "template version name or id")
    .action(
      action(async (template: string, version: string, options: Record<string, unknown>) => {
        const context = commandContext(options, ONE_SHOT);
        printLine(
          describePromotion(
            await withDatabase(context, (pool) => promote(pool, template, version)),
          ),
        );
        return EXIT_OK;
      }),
    );

  sub(
    "invalidate",
    "Expire every prebuild of <template>'s active version so the next cycles replace them",
    ONE_SHOT,
  )
    .argument("<template>", "template name or id")
    .action(
      action(async (template: string, options: Record<string, unknown>) => {
        const context = commandContext(options, ONE_SHOT);
        printLine(
          describeInvalidation(await withDatabase(context, (pool) => invalidate(pool, template))),
        );
        return EXIT_OK;
      }),
    );

  sub(
    "cancel-policy",
    "Set what the reconciler does with <template>'s stale prebuild jobs: pending (cancel pending ones, the default), retain (cancel none), running (also ask running ones to cancel)",
    ONE_SHOT,
  )
    .argument("<template>", "template name or id")
    .argument("<policy>", "pending, retain or running")
    .action(
      action(async (template: string, policy: string, options: Record<string, unknown>) => {
        const checked = checkCancelPolicy(policy);
        const context = commandContext(options, ONE_SHOT);
        const change = await withDatabase(context, (pool) =>
          setCancelPolicy(pool, template, checked),
        );
        printLine(describeCancelPolicy(change));
        return EXIT_OK;
      }),
    );

  sub(
    "cancel",
    "Cancel provisioner jobs: a pending one at once, a running one by telling its worker (exit 0 for every result)",
    ONE_SHOT,
  )
    .argument("<job-id...>", "provisioner job ids (UUIDs)")
    .option("--json", 'print {"results":[{"jobId","result"}]}')
    .action(
      action(async (jobIds: string[], options: Record<string, unknown>) => {
        checkJobIds(jobIds);
        const context = commandContext(options, ONE_SHOT);
        const outcomes = await withDatabase(context, (pool) => cancelJobs(pool, jobIds));
        printLine(options.json ? cancelsJson(outcomes) : describeCancels(outcomes));
        return EXIT_OK;
      }),
    );

  addSettingOptions(
    program
      .command("demo")
      .description(
        "A self-contained demo: a throwaway embedded PostgreSQL, a seeded template, simulated provisioners, a live view, then a promotion",
      )
      .option("--duration <duration>", "stop after this long", "60s")
      .option("--provisioners <n>", "simulated provisioners", "2")
      .option(
        "--database-url <url>",
        "use this scratch database instead of a throwaway embedded one (it gets seeded; it must have no templates)",
      )
      .option("--force", "seed into a --database-url that already has templates"),
    DEMO,
  ).action(action((options: Record<string, unknown>) => heavy.demo(options, DEMO)));

  return program;
}
