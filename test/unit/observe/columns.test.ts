import { describe, expect, it } from "vitest";
import { alignColumns } from "../../../src/observe/columns.ts";

describe("alignColumns", () => {
  it("pads each column to its widest cell, two spaces apart, without trailing spaces", () => {
    expect(alignColumns([["A", "BBB", "C"], ["xx", "y", "zzzz"], ["short"]])).toEqual([
      "A      BBB  C",
      "xx     y    zzzz",
      "short",
    ]);
  });

  it("right-aligns the columns it is told to", () => {
    expect(
      alignColumns(
        [
          ["action", "ok", "failed"],
          ["create", "10", "0"],
        ],
        { rightAligned: [1, 2] },
      ),
    ).toEqual(["action  ok  failed", "create  10       0"]);
  });

  it("returns no lines for no rows", () => {
    expect(alignColumns([])).toEqual([]);
  });
});
