// Plain text columns for terminal output (the plan table, the demo's live view, `cancel`'s
// results): one home for the alignment, done by the `table` package with no borders.
import { getBorderCharacters, table } from "table";

const NO_BORDERS = {
  border: getBorderCharacters("void"),
  columnDefault: { paddingLeft: 0, paddingRight: 2 },
  drawHorizontalLine: () => false,
};

/**
 * `rows` (header first, if any) as lines whose cells are left-aligned in columns two spaces
 * apart (right-aligned for the column indexes in `rightAligned`), with trailing spaces trimmed;
 * one line per row, in order. Cells must not hold newlines.
 */
export function alignColumns(
  rows: readonly (readonly string[])[],
  options: { readonly rightAligned?: readonly number[] } = {},
): string[] {
  if (rows.length === 0) return [];
  const width = Math.max(...rows.map((r) => r.length));
  const padded = rows.map((r) => [...r, ...Array<string>(width - r.length).fill("")]);
  const columns = Object.fromEntries(
    (options.rightAligned ?? []).map((i) => [i, { alignment: "right" as const }]),
  );
  return table(padded, { ...NO_BORDERS, columns })
    .split("\n")
    .slice(0, rows.length)
    .map((line) => line.trimEnd());
}
