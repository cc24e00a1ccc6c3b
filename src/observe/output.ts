// Command output on stdout (issue #14). A pipe takes 64 KiB at a time, so output is written and
// then left to drain: the process ends by setting process.exitCode (main.ts), never process.exit()
// right after a write, which would cut `plan --json | jq` mid-document. A reader that goes away
// (`prebuildsd demo | head`) is not a crash: `outputClosed` aborts and long-running commands stop
// cleanly, removing their temporary files.

const closed = new AbortController();

/** Aborts when stdout's reader has gone (EPIPE); later writes are dropped. */
export const outputClosed: AbortSignal = closed.signal;

let installed = false;

/** Turns EPIPE on stdout into `outputClosed` instead of an uncaught 'error' event. Idempotent. */
export function watchOutput(stream: NodeJS.WriteStream = process.stdout): void {
  if (installed) return;
  installed = true;
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") {
      if (!closed.signal.aborted) closed.abort(new Error("stdout was closed by its reader"));
      return;
    }
    throw error;
  });
}

/** One line (or block) of command output on stdout; nothing once the reader has gone. */
export function printLine(text: string): void {
  if (closed.signal.aborted) return;
  process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

/** A command's `--json` output: every command indents by 2 spaces, one document per run. */
export function printJson(value: unknown): void {
  printLine(JSON.stringify(value, null, 2));
}

/** Resolves once everything written to `stream` so far has been handed to the OS (or failed). */
export function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    try {
      stream.write("", () => resolve());
    } catch {
      resolve();
    }
  });
}
