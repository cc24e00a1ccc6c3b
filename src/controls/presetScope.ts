// What `pause`, `scale` and `reset` act on: a template (by name or id) and optionally one preset of
// its active version (by name or id), validated before anything is written (issue #15: bad input
// exits 2 with one line and changes nothing).
import type pg from "pg";
import { ConfigError } from "../config/configError.ts";
import {
  type ListActiveVersionPresetsRow,
  listActiveVersionPresets,
} from "../db/sql/controls_sql.ts";
import type { FindTemplatesRow } from "../db/sql/templates_sql.ts";
import { resolveTemplate } from "./resolveTemplate.ts";

/** A template and the presets of its active version a command acts on (never empty). */
export interface PresetScope {
  readonly template: FindTemplatesRow;
  /** The named preset, or every preset of the active version that wants prebuilds. */
  readonly presets: readonly ListActiveVersionPresetsRow[];
  /** The preset's name when one was named, "" for the whole template. */
  readonly presetName: string;
}

/**
 * Resolves `templateRef` and, when given, `presetRef` among the presets of the template's active
 * version that want prebuilds (desired_instances set). ConfigError (exit 2) when the template is
 * unknown or ambiguous, the preset is unknown, or the active version has no such preset at all.
 */
export async function resolvePresetScope(
  pool: pg.Pool,
  templateRef: string,
  presetRef: string | undefined,
): Promise<PresetScope> {
  const template = await resolveTemplate(pool, templateRef);
  const all = await listActiveVersionPresets(pool, { templateId: template.id });
  const name = JSON.stringify(template.name);
  if (presetRef === undefined) {
    if (all.length === 0) {
      throw new ConfigError(
        `template ${name}'s active version has no preset with prebuilds (desired_instances): nothing to act on`,
      );
    }
    return { template, presets: all, presetName: "" };
  }
  const ref = presetRef.trim();
  const matches = all.filter((p) => p.id === ref.toLowerCase() || p.name === ref);
  const [first] = matches;
  if (first === undefined) {
    const known = all.map((p) => JSON.stringify(p.name)).join(", ") || "none";
    throw new ConfigError(
      `template ${name}'s active version has no preset with prebuilds named or with the id ${JSON.stringify(presetRef)} (its presets with prebuilds: ${known})`,
    );
  }
  if (matches.length > 1) {
    throw new ConfigError(
      `template ${name}'s active version has ${matches.length} presets named ${JSON.stringify(presetRef)} (${matches.map((p) => p.id).join(", ")}): pass the preset id`,
    );
  }
  return { template, presets: [first], presetName: first.name };
}
