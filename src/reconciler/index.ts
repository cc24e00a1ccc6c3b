// The reconciler's public API: one cycle, the inputs it reads, the dry-run plan, pause, status.

export { type PlanPreview, planNextCycle } from "./planNextCycle.ts";
export { reconcileOnce } from "./reconcileOnce.ts";
export type { CycleReport } from "./report.ts";
