// Runs the BUILT binary as an operator would (`npm test` builds it first), with the Node.js flags
// its shebang line gives an installed `prebuildsd`: one-shot commands, and the daemon as a child
// process with a handle to signal it.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LAUNCH_NODE_FLAGS } from "../../src/cli/launchFlags.ts";
import { projectRoot } from "../../src/projectRoot.ts";

export const BIN = join(projectRoot, "dist", "src", "cli", "main.js");
const NODE = join(projectRoot, "node_modules", ".bin", "node");

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Only what the test passes: the developer's own PREBUILDS_* must not leak into the run. */
function childEnv(env: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PREBUILDS_LOG_FORMAT: "json",
    ...env,
  };
}

export function cli(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, [...LAUNCH_NODE_FLAGS, BIN, ...args], {
      env: childEnv(env),
      stdio: "pipe",
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export interface Daemon {
  readonly child: ChildProcess;
  /** Everything the daemon has written so far (stdout and stderr). */
  readonly output: () => string;
  /** Resolves with the first JSON log line whose msg contains `text`. */
  readonly waitForLog: (text: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

export function startDaemon(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Daemon {
  const child = spawn(NODE, [...LAUNCH_NODE_FLAGS, BIN, ...args], {
    env: childEnv(env),
    stdio: "pipe",
  });
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  const findLog = (text: string) => {
    for (const line of output.split("\n")) {
      if (!line.startsWith("{")) continue;
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (typeof entry.msg === "string" && entry.msg.includes(text)) return entry;
    }
    return null;
  };
  const waitForLog = (text: string, timeoutMs = 30_000) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const check = () => {
        const entry = findLog(text);
        if (entry === null) return;
        cleanup();
        resolve(entry);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no log line containing ${JSON.stringify(text)}; output:\n${output}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      exited.then(() => {
        if (listeners.has(check)) {
          cleanup();
          reject(new Error(`daemon exited before logging ${JSON.stringify(text)}:\n${output}`));
        }
      });
      check();
    });
  return { child, output: () => output, waitForLog, exited };
}
