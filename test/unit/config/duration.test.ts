import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "../../../src/config/duration.ts";

describe("parseDuration", () => {
  it.each([
    ["30s", 30_000],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["2h45m30s", 9_930_000],
    ["250ms", 250],
    ["1.5s", 1500],
    [".5m", 30_000],
    ["0", 0],
    ["1d", 86_400_000],
    ["-5s", -5000],
    [" 10s ", 10_000],
  ])("reads %j as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "-5", "5", "s", "1x", "1h 30m", "abc", "1.2.3s", "--1s", "30 seconds"])(
    "rejects %j",
    (text) => {
      expect(parseDuration(text)).toBeNull();
    },
  );
});

describe("formatDuration", () => {
  it.each([
    [60_000, "1m"],
    [90_000, "1m30s"],
    [3_600_000, "1h"],
    [250, "250ms"],
    [0, "0s"],
  ])("writes %d ms as %j", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips what it writes", () => {
    for (const ms of [1, 999, 1000, 61_000, 5_400_000, 86_399_999]) {
      expect(parseDuration(formatDuration(ms))).toBe(ms);
    }
  });
});
