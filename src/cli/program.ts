// The `prebuildsd` command line: one commander program, every command with --help. Actions return
// an exit code; errors are turned into exit codes by main.ts.
import { Command } from "commander";
import { ConfigError } from "../config/configError.ts";
import type { SettingKey } from "../config/settings.ts";
import { setCancelPolicy } from "../controls/cancelPolicy.ts";
import { invalidate } from "../controls/invalidate.ts";
import { promote } from "../controls/promote.ts";
import { resetHardLimit } from "../controls/resetHardLimit.ts";
import { parseRolloutStrategy, setRolloutStrategy } from "../controls/rolloutStrategy.ts";
import { parseDesiredCount, scale } from "../controls/scale.ts";
import { setPause } from "../controls/scopedPause.ts";
import { reconcilerOptions } from "../daemon/reconcilerOptions.ts";
import { DEMO_DEFAULT_TEXT } from "../demo/demoDefaults.ts";
import { printJson, printLine } from "../observe/output.ts";
import { MAX_DESIRED_INSTANCES } from "../plan/maxDesiredInstances.ts";
import { commandContext } from "./commandContext.ts";
import { cancelJobs, cancelsJson, checkJobIds, describeCancels } from "./commands/cancel.ts";
import { checkCancelPolicy, describeCancelPolicy } from "./commands/cancelPolicy.ts";
import { describeInvalidation } from "./commands/invalidate.ts";
import { applyMigrations, describeMigrations } from "./commands/migrate.ts";
import {
  describePause,
  describeReset,
  describeRolloutStrategy,
  describeScale,
} from "./commands/poolControls.ts";
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

function optionalText(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** `scale`'s count or --clear, exactly one of them (ConfigError otherwise). */
function scaleTarget(count: string | undefined, clear: boolean): number | "clear" {
  if (clear && count !== undefined) {
    throw new ConfigError(
      `scale takes a count or --clear, not both (got ${JSON.stringify(count)} and --clear)`,
    );
  }
  if (clear) return "clear";
  if (count === undefined) {
    throw new ConfigError("scale needs a count (a whole number, 0 drains the pool) or --clear");
  }
  return parseDesiredCount(count);
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
          await withDatabase(context, applyMigrations, {
            requireCurrentSchema: false,
            createEmbedded: true,
          }),
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
    .option(
      "--full",
      "read every preset (a full resync) instead of only those changed or due since the last cycle",
    )
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
    "Show whether reconciliation is paused, presets by health, pool controls, rollouts and the last cycle",
    PLAN,
  )
    .option("--json", "print JSON")
    .action(
      action(async (options: Record<string, unknown>) => {
        const context = commandContext(options, PLAN);
        const status = await withDatabase(context, (pool) =>
          readStatus(pool, reconcilerOptions(context.config)),
        );
        if (options.json) printJson(status);
        else printLine(describeStatus(status));
        return EXIT_OK;
      }),
    );

  for (const [name, paused, description] of [
    [
      "pause",
      true,
      "Pause reconciliation: everything, one template (--template) or one preset of it (--preset); queued jobs keep running",
    ],
    ["resume", false, "Resume what `pause` with the same options paused"],
  ] as const) {
    sub(name, description, ONE_SHOT)
      .option("--template <template>", "only this template (name or id), every version")
      .option("--preset <preset>", "only this preset (name or id) of --template")
      .action(
        action(async (options: Record<string, unknown>) => {
          const target = {
            template: optionalText(options.template),
            preset: optionalText(options.preset),
          };
          const context = commandContext(options, ONE_SHOT);
          printLine(
            describePause(await withDatabase(context, (pool) => setPause(pool, target, paused))),
          );
          return EXIT_OK;
        }),
      );
  }

  sub(
    "scale",
    "Override the desired count of <template>'s active version's presets (all, or --preset); --clear removes the override",
    ONE_SHOT,
  )
    .argument("<template>", "template name or id")
    .argument("[count]", `a whole number from 0 to ${MAX_DESIRED_INSTANCES} (0 drains the pool)`)
    .option("--preset <preset>", "only this preset (name or id)")
    .option("--clear", "remove the override: back to the configured count")
    .action(
      action(
        async (template: string, count: string | undefined, options: Record<string, unknown>) => {
          const target = scaleTarget(count, options.clear === true);
          const context = commandContext(options, ONE_SHOT);
          const preset = optionalText(options.preset);
          printLine(
            describeScale(
              await withDatabase(context, (pool) => scale(pool, template, target, preset)),
            ),
          );
          return EXIT_OK;
        },
      ),
    );

  sub(
    "reset",
    "Return <template>'s hard-limited presets (all, or --preset) to healthy; earlier failures stop counting",
    ONE_SHOT,
  )
    .argument("<template>", "template name or id")
    .option("--preset <preset>", "only this preset (name or id)")
    .action(
      action(async (template: string, options: Record<string, unknown>) => {
        const context = commandContext(options, ONE_SHOT);
        const preset = optionalText(options.preset);
        printLine(
          describeReset(
            await withDatabase(context, (pool) => resetHardLimit(pool, template, preset)),
          ),
        );
        return EXIT_OK;
      }),
    );

  sub(
    "rollout",
    "How a promotion of <template> retires the old version's prebuilds: replace (at once, the default) or surge (as the new ones become ready)",
    ONE_SHOT,
  )
    .argument("<template>", "template name or id")
    .argument("<strategy>", "replace or surge")
    .action(
      action(async (template: string, strategy: string, options: Record<string, unknown>) => {
        const chosen = parseRolloutStrategy(strategy);
        const context = commandContext(options, ONE_SHOT);
        printLine(
          describeRolloutStrategy(
            await withDatabase(context, (pool) => setRolloutStrategy(pool, template, chosen)),
          ),
        );
        return EXIT_OK;
      }),
    );

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
        if (options.json) printJson(cancelsJson(outcomes));
        else printLine(describeCancels(outcomes));
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
    DEMO_DEFAULT_TEXT,
  ).action(action((options: Record<string, unknown>) => heavy.demo(options, DEMO)));

  return program;
}
