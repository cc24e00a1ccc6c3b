// Which kind of cycle to run (issue #16). An incremental cycle reads only the presets that writers
// marked dirty or whose wake-up is due (and the rest of their templates); a full resync reads every
// preset, as every cycle did before. Full resyncs are the safety net of a level-based controller
// (Kubernetes' periodic resync): they bound how long any missed mark could matter.

/** "full": every preset read; "incremental": only the marked and due presets' templates. */
export type CycleKind = "full" | "incremental";

/** Why a cycle was a full resync, most compelling first when several hold. */
export type FullResyncReason =
  /** `reconcile --once --full`, or a caller that asked for one. */
  | "requested"
  /** This replica did not hold the lock in its previous cycle (just started, or took over). */
  | "lock_gained"
  /** The previous cycle (this process's, or the newest recorded one of any replica) failed. */
  | "previous_cycle_failed"
  /** A NULL mark: something every preset depends on changed (settings; the migration itself). */
  | "everything_marked"
  /** PREBUILDS_FULL_RESYNC_INTERVAL has passed since the last full resync of any replica (or
   *  the clock went back past it). */
  | "interval";

/**
 * What one process remembers between its cycles: whether it held the lock in the last one and
 * whether the last one failed. The daemon keeps one for its lifetime; a one-shot cycle
 * (`reconcile --once`) has none, so it is incremental unless something else asks for a full one.
 * Mutated by reconcileOnce.
 */
export interface CycleMemory {
  heldLock: boolean;
  lastCycleFailed: boolean;
}

/** A new process's memory: it has not held the lock, so its first cycle with the lock is full. */
export function newCycleMemory(): CycleMemory {
  return { heldLock: false, lastCycleFailed: false };
}

/** The database's side of the decision (GetCycleWork). */
export interface ResyncFacts {
  /** The instant the cycle plans for. */
  readonly now: Date;
  /** When the last full resync (any replica) planned for; the epoch when never. */
  readonly lastFullResyncAt: Date;
  readonly everythingDirty: boolean;
  /** The newest recorded run (any replica) failed. */
  readonly lastRunFailed: boolean;
}

export interface KindRequest {
  /** Milliseconds between full resyncs; 0 makes every cycle a full resync. */
  readonly fullResyncInterval: number;
  readonly forceFull: boolean;
  /** undefined: a one-shot cycle (no lock history of its own). */
  readonly memory: CycleMemory | undefined;
}

export type CycleKindChoice =
  | { readonly kind: "full"; readonly reason: FullResyncReason }
  | { readonly kind: "incremental"; readonly reason: null };

/** Pure: the kind of the cycle about to read, from the request and the database's facts. */
export function chooseCycleKind(request: KindRequest, facts: ResyncFacts): CycleKindChoice {
  const full = (reason: FullResyncReason): CycleKindChoice => ({ kind: "full", reason });
  if (request.forceFull) return full("requested");
  if (request.memory !== undefined && !request.memory.heldLock) return full("lock_gained");
  if (request.memory?.lastCycleFailed || facts.lastRunFailed) return full("previous_cycle_failed");
  if (facts.everythingDirty) return full("everything_marked");
  const elapsed = facts.now.getTime() - facts.lastFullResyncAt.getTime();
  const interval = Math.max(0, request.fullResyncInterval);
  if (!(elapsed < interval) || elapsed < 0) return full("interval");
  return { kind: "incremental", reason: null };
}
