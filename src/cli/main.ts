#!/usr/bin/env -S node --max-semi-space-size=4 --heap-growing-percent=50
// prebuildsd's entry point: parses the command line, runs the command, and turns its outcome into
// the exit code (0 ok, 1 runtime failure, 2 bad configuration or usage). The first line's Node.js
// flags are src/cli/launchFlags.ts's (why there).
// First: `run` catches SIGTERM from here on, while the rest of the program loads.
import "../daemon/earlyShutdown.ts";
// Then: refuse a Node.js outside package.json's `engines` (exit 2) before anything else runs.
import "./requireSupportedNode.ts";
import { CommanderError } from "commander";
import { ConfigError } from "../config/configError.ts";
import { registerDatabaseSecrets } from "../config/secrets.ts";
import { redact } from "../observe/logger.ts";
import { drained, watchOutput } from "../observe/output.ts";
import { commandContext } from "./commandContext.ts";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./exitCodes.ts";
import { packageVersion } from "./packageVersion.ts";
import { buildProgram, type ExitCode } from "./program.ts";

function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CommanderError) {
    // --help and --version "fail" with these codes; they are successes.
    return error.code === "commander.helpDisplayed" ||
      error.code === "commander.help" ||
      error.code === "commander.version"
      ? EXIT_OK
      : EXIT_USAGE;
  }
  if (error instanceof ConfigError) {
    process.stderr.write(`prebuildsd: ${redact(error.message)}\n`);
    return EXIT_USAGE;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`prebuildsd: ${redact(message)}\n`);
  return EXIT_FAILURE;
}

async function main(argv: readonly string[]): Promise<ExitCode> {
  // Before anything can log: the URL and its password are never printed.
  registerDatabaseSecrets(process.env.DATABASE_URL);
  let exitCode: ExitCode = EXIT_OK;
  const program = buildProgram(
    packageVersion(),
    {
      run: async (options, keys) => (await import("./commands/run.ts")).runDaemon(options, keys),
      reconcile: async (options, keys) =>
        (await import("./commands/reconcile.ts")).reconcileOnceCommand(options, keys),
      plan: async (options, keys) =>
        (await import("./commands/plan.ts")).planCommand(options, keys),
      demo: async (options, keys) => {
        const { runDemo } = await import("../demo/demo.ts");
        await runDemo(options, () => commandContext(options, keys).config);
        return EXIT_OK;
      },
    },
    (code) => {
      exitCode = code;
    },
  );
  try {
    await program.parseAsync(argv as string[]);
    return exitCode;
  } catch (error) {
    return exitCodeOf(error);
  }
}

watchOutput();
// Never process.exit() here: stdout to a pipe is written asynchronously, and exiting would cut it.
process.exitCode = await main(process.argv);
await Promise.all([drained(process.stdout), drained(process.stderr)]);
// Everything is written. A handle a command failed to close must not keep a one-shot command
// alive; unref'd, this timer does not hold the process itself.
setTimeout(() => process.exit(), 2000).unref();
