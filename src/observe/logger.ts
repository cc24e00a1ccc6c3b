// Structured logs: JSON lines for machines, colourised lines on a terminal. Every line about an
// action carries preset, template and action fields (child loggers add them).
import { type Logger as PinoLogger, pino } from "pino";
import pinoPretty from "pino-pretty";

export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";
export type LogFormat = "json" | "pretty";
export type Logger = PinoLogger;

export interface LoggerOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Defaults to stderr, so stdout stays free for command output (`plan --json`). */
  readonly destination?: NodeJS.WritableStream;
}

/** Values whose text must never reach a log line (the DATABASE_URL and its password). */
const secrets = new Set<string>();

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("[REDACTED]");
  // Any password inside a connection string, registered or not.
  return out.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/g, "$1[REDACTED]@");
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stderr;
  const stream =
    options.format === "pretty"
      ? pinoPretty({ sync: true, destination, colorize: true, ignore: "pid,hostname" })
      : destination;
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      hooks: {
        streamWrite: redact,
      },
    },
    stream,
  );
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: "silent" });
