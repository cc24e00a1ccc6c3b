// The first step of a cycle's read (issue #16): what it must read. One statement (GetCycleWork) in
// the lock transaction's snapshot gives the presets marked dirty or due, widened to their surge
// rollout partners, and the facts that decide between an incremental cycle and a full resync.
import type { SqlClient } from "../db/pool.ts";
import { getCycleWork } from "../db/sql/change_tracking_sql.ts";
import {
  type CycleKind,
  type CycleMemory,
  chooseCycleKind,
  type FullResyncReason,
} from "./cycleKind.ts";

/** What the cycle asks for; see KindRequest. */
export interface ScopeRequest {
  /** Milliseconds between full resyncs; 0 makes every cycle a full resync. */
  readonly fullResyncInterval: number;
  readonly forceFull: boolean;
  readonly memory: CycleMemory | undefined;
}

/** What a cycle reads: every preset (full) or `presetIds` (incremental). */
export interface CycleScope {
  readonly kind: CycleKind;
  /** Why it is a full resync; null for an incremental cycle. */
  readonly reason: FullResyncReason | null;
  /** Presets marked dirty or due (before widening to surge partners). */
  readonly presetsMarked: number;
  /**
   * Incremental: the marked and due presets and, in a `surge` template, the same-name presets of
   * its active and previous versions (a surge rollout pairs them, issue #15; no other decision
   * crosses presets). Full: undefined (every preset).
   */
  readonly presetIds: readonly string[] | undefined;
}

/**
 * Reads the cycle's scope with `client` (the lock transaction, before the snapshot). `at`: the
 * instant planned for when it is not the database's clock (tests, `planAt`): wake-ups due by then
 * are visited and the resync interval is measured to it.
 */
export async function readCycleScope(
  client: SqlClient,
  request: ScopeRequest,
  at: Date | undefined,
): Promise<CycleScope> {
  const work = await getCycleWork(client, { now: at ?? null });
  if (work === null) throw new Error("GetCycleWork returned no row");
  const choice = chooseCycleKind(request, work);
  return {
    kind: choice.kind,
    reason: choice.reason,
    presetsMarked: work.markedPresets,
    presetIds: choice.kind === "incremental" ? work.presetIds : undefined,
  };
}
