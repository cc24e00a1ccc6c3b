// Admission control (issue #13): a global cap on in-flight prebuild jobs. Deletes are admitted
// before creates (they are never held back, but take their share of the budget first); the
// creates that fit go first to the presets furthest below their desired count, by fill ratio, so
// one template wanting 500 cannot starve another wanting 2. Pure: the in-flight count comes from
// the snapshot (CountInflightPrebuildJobs, read every cycle).

import type { Action, CreateAction } from "./action.ts";
import type { CreateCap } from "./createCap.ts";
import type { PresetPlan } from "./planPreset.ts";

/** One preset's plan as admission sees it; `plan` is replaced when its Create is capped. */
export interface AdmissionInput {
  readonly presetId: string;
  readonly plan: PresetPlan;
}

/** "capped: 97 of 100 jobs in flight" (+ ", 2 deletes first"). */
export function describeCap(cap: CreateCap): string {
  const deletes = cap.deletesFirst > 0 ? `, ${cap.deletesFirst} deletes first` : "";
  return `capped: ${cap.inflight} of ${cap.cap} jobs in flight${deletes}`;
}

/** What the cap held back in one cycle's plan, over every preset (issue #13 follow-up). */
export interface HeldBack {
  /** Creates planned but not admitted: Σ (wanted − granted). */
  readonly creates: number;
  /** Presets with creates held back. */
  readonly presets: number;
  /** Prebuild jobs in flight when the cycle read the queue, and the cap. */
  readonly inflight: number;
  readonly cap: number;
}

/** The creates `caps` (each preset's `plan.capped`) held back; null when none was. */
export function heldBackCreates(caps: Iterable<CreateCap | undefined | null>): HeldBack | null {
  let creates = 0;
  let presets = 0;
  let numbers: CreateCap | undefined;
  for (const cap of caps) {
    if (cap === undefined || cap === null || cap.wanted <= cap.granted) continue;
    creates += cap.wanted - cap.granted;
    presets++;
    numbers ??= cap;
  }
  if (numbers === undefined) return null;
  return { creates, presets, inflight: numbers.inflight, cap: numbers.cap };
}

/** "3 creates held back by the in-flight cap (7 of 10 jobs in flight)": one wording for the
 *  cycle summary, `status`, the daemon's log and the status page. */
export function describeHeldBack(held: {
  readonly creates: number;
  readonly inflight: number | null;
  readonly cap: number | null;
}): string {
  const numbers =
    held.inflight !== null && held.cap !== null
      ? ` (${held.inflight} of ${held.cap} jobs in flight)`
      : "";
  return `${held.creates} create${held.creates === 1 ? "" : "s"} held back by the in-flight cap${numbers}`;
}

/** Jobs a plan's deletes queue: one per Delete workspace, one per orphan deleted through a
 *  provisioner (free deletes of never-provisioned prebuilds take no slot). */
function deleteJobs(actions: readonly Action[]): number {
  let n = 0;
  for (const a of actions) {
    if (a._tag === "Delete") n += a.workspaceIds.length;
    if (a._tag === "CancelPending") n += a.orphanCount;
  }
  return n;
}

function createOf(plan: PresetPlan): CreateAction | undefined {
  return plan.actions.find((a): a is CreateAction => a._tag === "Create");
}

/** A binary min-heap of preset indexes by (fill ratio, desired, index): the emptiest pool first. */
class FillHeap {
  private readonly items: number[] = [];
  private readonly key: (i: number) => readonly [number, number, number];
  constructor(key: (i: number) => readonly [number, number, number]) {
    this.key = key;
  }
  private less(a: number, b: number): boolean {
    const ka = this.key(a);
    const kb = this.key(b);
    for (let k = 0; k < 3; k++) {
      if ((ka[k] as number) !== (kb[k] as number)) return (ka[k] as number) < (kb[k] as number);
    }
    return false;
  }
  get size(): number {
    return this.items.length;
  }
  push(i: number): void {
    const items = this.items;
    items.push(i);
    let c = items.length - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (!this.less(items[c] as number, items[p] as number)) break;
      [items[c], items[p]] = [items[p] as number, items[c] as number];
      c = p;
    }
  }
  pop(): number | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      let p = 0;
      for (;;) {
        const l = 2 * p + 1;
        const r = l + 1;
        let m = p;
        if (l < items.length && this.less(items[l] as number, items[m] as number)) m = l;
        if (r < items.length && this.less(items[r] as number, items[m] as number)) m = r;
        if (m === p) break;
        [items[m], items[p]] = [items[p] as number, items[m] as number];
        p = m;
      }
    }
    return top;
  }
}

/**
 * Applies the cap to every preset's plan. `cap` null (or not a positive integer): no cap, plans
 * unchanged. Otherwise the budget is cap − inflight − the delete jobs planned this cycle; creates
 * are granted one at a time to the preset whose pool would be the least full ((desired − wanted +
 * granted) / desired; ties: the smaller desired, then plan order). A preset granted fewer than it
 * wanted gets a CreateCap and its Create count lowered (the action removed when 0); the reason is
 * the planner's own (`plan` prints "create 3 of 10 (capped: …)" from the CreateCap).
 * Returns plans in input order; O(presets + budget × log presets).
 */
export function admitCreates(
  inputs: readonly AdmissionInput[],
  inflight: number,
  cap: number | null | undefined,
): { plan: PresetPlan; capped: CreateCap | null }[] {
  if (typeof cap !== "number" || !Number.isInteger(cap) || cap < 1) {
    return inputs.map((i) => ({ plan: i.plan, capped: null }));
  }
  const inFlight = Number.isFinite(inflight) && inflight > 0 ? Math.floor(inflight) : 0;
  let deletesFirst = 0;
  for (const i of inputs) deletesFirst += deleteJobs(i.plan.actions);
  let budget = Math.max(0, cap - inFlight - deletesFirst);
  const wanted = inputs.map((i) => createOf(i.plan)?.count ?? 0);
  const desired = inputs.map((i, n) => Math.max(i.plan.state.desired, wanted[n] ?? 0, 1));
  const granted = inputs.map(() => 0);
  const key = (n: number): readonly [number, number, number] => {
    const d = desired[n] ?? 1;
    return [(d - (wanted[n] ?? 0) + (granted[n] ?? 0)) / d, d, n];
  };
  const heap = new FillHeap(key);
  for (let n = 0; n < inputs.length; n++) if ((wanted[n] ?? 0) > 0) heap.push(n);
  while (budget > 0 && heap.size > 0) {
    const n = heap.pop() as number;
    granted[n] = (granted[n] ?? 0) + 1;
    budget--;
    if ((granted[n] ?? 0) < (wanted[n] ?? 0)) heap.push(n);
  }
  return inputs.map((input, n) => {
    const want = wanted[n] ?? 0;
    const got = granted[n] ?? 0;
    if (got >= want) return { plan: input.plan, capped: null };
    const capped: CreateCap = { wanted: want, granted: got, inflight: inFlight, cap, deletesFirst };
    const actions: Action[] = [];
    for (const a of input.plan.actions) {
      if (a._tag !== "Create") actions.push(a);
      else if (got > 0) actions.push({ ...a, count: got });
    }
    return { plan: { ...input.plan, actions, capped }, capped };
  });
}
