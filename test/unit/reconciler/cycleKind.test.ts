// When a cycle is a full resync (issue #16): the pure decision, case by case.
import { describe, expect, it } from "vitest";
import {
  type CycleMemory,
  chooseCycleKind,
  type KindRequest,
  newCycleMemory,
  type ResyncFacts,
} from "../../../src/reconciler/cycleKind.ts";

const NOW = new Date("2026-06-01T12:00:00Z");
const MINUTE = 60_000;
const steady: CycleMemory = { heldLock: true, lastCycleFailed: false };
const request = (over: Partial<KindRequest> = {}): KindRequest => ({
  fullResyncInterval: 10 * MINUTE,
  forceFull: false,
  memory: steady,
  ...over,
});
const facts = (over: Partial<ResyncFacts> = {}): ResyncFacts => ({
  now: NOW,
  lastFullResyncAt: new Date(NOW.getTime() - MINUTE),
  everythingDirty: false,
  lastRunFailed: false,
  ...over,
});

describe("chooseCycleKind", () => {
  it.each<[string, Partial<KindRequest>, Partial<ResyncFacts>, string]>([
    ["nothing asks for a full resync", {}, {}, "incremental"],
    ["a one-shot cycle (no memory)", { memory: undefined }, {}, "incremental"],
    [
      "just under the interval",
      {},
      { lastFullResyncAt: new Date(NOW.getTime() - 10 * MINUTE + 1) },
      "incremental",
    ],
    ["asked for", { forceFull: true }, {}, "full:requested"],
    ["a new process", { memory: newCycleMemory() }, {}, "full:lock_gained"],
    [
      "the lock taken over",
      { memory: { heldLock: false, lastCycleFailed: false } },
      {},
      "full:lock_gained",
    ],
    [
      "this process's last cycle failed",
      { memory: { heldLock: true, lastCycleFailed: true } },
      {},
      "full:previous_cycle_failed",
    ],
    ["the newest recorded run failed", {}, { lastRunFailed: true }, "full:previous_cycle_failed"],
    ["a NULL mark", {}, { everythingDirty: true }, "full:everything_marked"],
    [
      "the interval elapsed",
      {},
      { lastFullResyncAt: new Date(NOW.getTime() - 10 * MINUTE) },
      "full:interval",
    ],
    ["never resynced", {}, { lastFullResyncAt: new Date(0) }, "full:interval"],
    ["the clock went back", {}, { lastFullResyncAt: new Date(NOW.getTime() + 1) }, "full:interval"],
    ["an interval of 0", { fullResyncInterval: 0 }, { lastFullResyncAt: NOW }, "full:interval"],
    ["a NaN interval", { fullResyncInterval: Number.NaN }, {}, "full:interval"],
    [
      "a forced one beats every other reason",
      { forceFull: true, memory: newCycleMemory() },
      { everythingDirty: true },
      "full:requested",
    ],
  ])("%s", (_, req, fact, expected) => {
    const choice = chooseCycleKind(request(req), facts(fact));
    expect(choice.kind === "full" ? `full:${choice.reason}` : choice.kind).toBe(expected);
  });
});
