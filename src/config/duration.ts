// Durations as operators write them ("30s", "1m", "1h30m", "250ms"), the format Go's
// time.ParseDuration accepts (Coder's own flags use it). Effect's Duration and `ms` only read a
// single unit ("30 seconds", "1h"), so compound values need this small parser.

const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h|d)/y;

/** Milliseconds, or null when `text` is not a duration. "0" alone is zero; a sign may lead. */
export function parseDuration(text: string): number | null {
  let rest = text.trim();
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return null;
  let total = 0;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < rest.length) {
    const match = TERM.exec(rest);
    if (match === null) return null;
    const unit = UNIT_MS[match[2] ?? ""];
    if (unit === undefined) return null;
    total += Number(match[1]) * unit;
  }
  if (!Number.isFinite(total)) return null;
  return sign * total;
}

/** The shortest compound form of a millisecond count: 90_000 → "1m30s", 250 → "250ms". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  let rest = Math.abs(ms);
  let out = "";
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * size;
  }
  if (rest > 0) out += `${Math.round(rest * 1000) / 1000}ms`;
  return sign + out;
}
