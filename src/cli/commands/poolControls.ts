// What `pause`/`resume`, `scale` and `reset` print (issue #15); the writes are src/controls/.
import type { ResetResult } from "../../controls/resetHardLimit.ts";
import type { RolloutResult } from "../../controls/rolloutStrategy.ts";
import type { ScaleResult } from "../../controls/scale.ts";
import type { PauseResult } from "../../controls/scopedPause.ts";

export function describePause(result: PauseResult): string {
  if (result.scope === "all") {
    if (result.paused) {
      return result.changed
        ? "reconciliation paused: no prebuild is created, deleted or cancelled until `prebuildsd resume` (queued jobs keep running)"
        : "reconciliation was already paused: nothing changed";
    }
    const scoped =
      result.scopedPauses > 0
        ? ` (${result.scopedPauses} template or preset pause(s) remain: \`prebuildsd status\` lists them, \`prebuildsd resume --template <t>\` lifts one)`
        : "";
    return result.changed
      ? `reconciliation resumed: the next cycle acts again${scoped}`
      : `reconciliation was not paused: nothing changed${scoped}`;
  }
  const what =
    result.scope === "template"
      ? `template ${JSON.stringify(result.templateName)}`
      : `preset ${JSON.stringify(result.presetName)} of template ${JSON.stringify(result.templateName)}`;
  if (result.paused) {
    return result.changed
      ? `paused ${what}: the next cycles create, delete and cancel nothing for it (every version) until \`prebuildsd resume\` with the same options`
      : `${what} was already paused: nothing changed`;
  }
  const still = result.templateStillPaused
    ? `; the whole template is still paused (\`prebuildsd resume --template ${JSON.stringify(result.templateName)}\`)`
    : "";
  return result.changed
    ? `resumed ${what}${result.scope === "template" ? " and its presets" : ""}: the next cycle acts on it again${still}`
    : `${what} was not paused: nothing changed${still}`;
}

export function describeScale(result: ScaleResult): string {
  const lines = result.presets.map((p) => {
    const before = p.before === null ? `configured ${p.configured}` : `override ${p.before}`;
    const after = p.after === null ? `configured ${p.configured}` : `override ${p.after}`;
    return `  ${p.presetName}: ${before} → ${after}`;
  });
  return [
    `scaled ${result.presets.length} preset(s) of template ${JSON.stringify(result.templateName)}'s active version (schedules still apply on top; the next cycle creates or deletes to match):`,
    ...lines,
  ].join("\n");
}

export function describeReset(result: ResetResult): string {
  const lines = result.presets.map(
    (p) =>
      `  ${p.presetName}: ${p.previousStatus === "hard_limited" ? "hard_limited → healthy" : p.previousStatus}`,
  );
  return [
    `reset ${result.presets.length} preset(s) of template ${JSON.stringify(result.templateName)}: builds before now no longer count toward backoff or the hard limit`,
    ...lines,
  ].join("\n");
}

export function describeRolloutStrategy(result: RolloutResult): string {
  const template = JSON.stringify(result.templateName);
  if (result.strategy === result.previous) {
    return `template ${template} already rolls out with ${result.strategy}: nothing changed`;
  }
  return result.strategy === "surge"
    ? `template ${template} now rolls out with surge: after a promotion, the previous version's eligible prebuilds are deleted one for one as the new version's become eligible, at the latest PREBUILDS_ROLLOUT_MAX_WAIT after it`
    : `template ${template} now rolls out with replace: after a promotion, the old version's prebuilds are deleted at the next cycle`;
}
