// Whether a preset can be left out of a cycle before it takes a worker slot (reference §4.7).
// The preset list holds every historical version of every template, so most presets are inactive
// leftovers with nothing to clean up. Invariant (tested): canSkip(s) implies planPreset(s) plans nothing.

import type { PresetSnapshot } from "./snapshot.ts";
import { isActive } from "./state.ts";

export function canSkip(snapshot: PresetSnapshot): boolean {
  return (
    !isActive(snapshot.preset) &&
    snapshot.running.length === 0 &&
    snapshot.expired.length === 0 &&
    !(snapshot.pendingCount > 0) &&
    !((snapshot.staleRunningCount ?? 0) > 0) &&
    !((snapshot.canceledOrphanCount ?? 0) > 0) &&
    (snapshot.stopped?.length ?? 0) === 0 &&
    snapshot.backoff === null
  );
}
