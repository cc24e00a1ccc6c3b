// `prebuildsd pause` / `resume`: what the command prints; the write is src/controls/.
import type pg from "pg";
import { setReconciliationPaused } from "../../controls/reconciliationPause.ts";

export async function setPaused(pool: pg.Pool, paused: boolean): Promise<string> {
  await setReconciliationPaused(pool, paused);
  return paused
    ? "reconciliation paused: no prebuild is created, deleted or cancelled until `prebuildsd resume` (queued jobs keep running)"
    : "reconciliation resumed: the next cycle acts again";
}
