// `prebuildsd run`: the daemon (src/daemon/daemon.ts) until SIGTERM or SIGINT, then exit 0.
import { Cause, Effect, Exit } from "effect";
import type { SettingKey } from "../../config/settings.ts";
import { daemonProgram } from "../../daemon/daemon.ts";
import { reconcileCycleFactory } from "../../daemon/reconcileCycle.ts";
import { commandContext } from "../commandContext.ts";
import { EXIT_OK } from "../exitCodes.ts";
import { missingLaunchFlags } from "../launchFlags.ts";
import { packageVersion } from "../packageVersion.ts";

export async function runDaemon(
  options: Record<string, unknown>,
  keys: readonly SettingKey[],
): Promise<number> {
  const { config, logger } = commandContext(options, keys);
  const missing = missingLaunchFlags(process.execArgv);
  if (missing.length > 0)
    logger.warn(
      { missing: missing.join(" "), nodeFlags: process.execArgv.join(" ") },
      `Node.js was started without prebuildsd's launch flags: a full resync may need twice the ` +
        `memory. Start the prebuildsd command itself (its first line passes them) or run ` +
        `node ${missing.join(" ")} dist/src/cli/main.js (README, "Memory")`,
    );
  const exit = await Effect.runPromiseExit(
    daemonProgram({
      config,
      logger,
      version: packageVersion(),
      makeCycle: reconcileCycleFactory(config),
    }),
  );
  if (Exit.isSuccess(exit)) return EXIT_OK;
  // The most relevant error (a failure over an interruption); main prints it and exits 1.
  const error = Cause.squash(exit.cause);
  throw error instanceof Error ? error : new Error(String(error));
}
