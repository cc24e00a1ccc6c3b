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

/** Properties the pg driver hangs on its errors: whole client objects (3 KB of connection
 *  parameters and type parsers per log line, issue #14), never useful in a log. */
const DRIVER_OBJECTS = ["client", "connection", "_types"] as const;

/** pino's error serializer without the driver's objects. */
function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const serialized = pino.stdSerializers.err(error) as unknown as Record<string, unknown>;
  for (const key of DRIVER_OBJECTS) delete serialized[key];
  return serialized;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stderr;
  const stream =
    options.format === "pretty"
      ? pinoPretty({
          sync: true,
          destination,
          // Colour codes only for a terminal: a file or a pipe gets plain text (issue #14).
          colorize: (destination as { isTTY?: boolean }).isTTY === true && !process.env.NO_COLOR,
          ignore: "pid,hostname",
        })
      : destination;
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: serializeError },
      hooks: {
        streamWrite: redact,
      },
    },
    stream,
  );
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: "silent" });
