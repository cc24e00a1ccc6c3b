import type { QueryArrayConfig, QueryArrayResult } from "pg";

interface Client {
    query: (config: QueryArrayConfig) => Promise<QueryArrayResult>;
}

export const upsertPrebuildsSettingsQuery = `-- name: UpsertPrebuildsSettings :exec

INSERT INTO site_configs (key, value)
VALUES ('prebuilds_settings', $1::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`;

export interface UpsertPrebuildsSettingsArgs {
    settingsJson: string;
}

export async function upsertPrebuildsSettings(client: Client, args: UpsertPrebuildsSettingsArgs): Promise<void> {
    await client.query({
        text: upsertPrebuildsSettingsQuery,
        values: [args.settingsJson],
        rowMode: "array"
    });
}

export const listActiveVersionPresetsQuery = `-- name: ListActiveVersionPresets :many
SELECT tvp.id, tvp.name, tvp.desired_instances::integer AS desired_instances, tvp.prebuild_status
FROM templates t
JOIN template_version_presets tvp ON tvp.template_version_id = t.active_version_id
WHERE t.id = $1::uuid
  AND tvp.desired_instances IS NOT NULL
ORDER BY tvp.name, tvp.id`;

export interface ListActiveVersionPresetsArgs {
    templateId: string;
}

export interface ListActiveVersionPresetsRow {
    id: string;
    name: string;
    desiredInstances: number;
    prebuildStatus: string;
}

export async function listActiveVersionPresets(client: Client, args: ListActiveVersionPresetsArgs): Promise<ListActiveVersionPresetsRow[]> {
    const result = await client.query({
        text: listActiveVersionPresetsQuery,
        values: [args.templateId],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            id: row[0],
            name: row[1],
            desiredInstances: row[2],
            prebuildStatus: row[3]
        };
    });
}

export const listPausesQuery = `-- name: ListPauses :many
SELECT pp.template_id, o.name AS organization_name, t.name AS template_name, pp.preset_name,
       pp.paused_at
FROM prebuild_pauses pp
JOIN templates t ON t.id = pp.template_id
JOIN organizations o ON o.id = t.organization_id
ORDER BY o.name, t.name, pp.preset_name`;

export interface ListPausesRow {
    templateId: string;
    organizationName: string;
    templateName: string;
    presetName: string;
    pausedAt: Date;
}

export async function listPauses(client: Client): Promise<ListPausesRow[]> {
    const result = await client.query({
        text: listPausesQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            templateId: row[0],
            organizationName: row[1],
            templateName: row[2],
            presetName: row[3],
            pausedAt: row[4]
        };
    });
}

export const insertPauseQuery = `-- name: InsertPause :one
INSERT INTO prebuild_pauses (template_id, preset_name)
VALUES ($1::uuid, $2::text)
ON CONFLICT (template_id, preset_name) DO NOTHING
RETURNING template_id, preset_name, paused_at`;

export interface InsertPauseArgs {
    templateId: string;
    presetName: string;
}

export interface InsertPauseRow {
    templateId: string;
    presetName: string;
    pausedAt: Date;
}

export async function insertPause(client: Client, args: InsertPauseArgs): Promise<InsertPauseRow | null> {
    const result = await client.query({
        text: insertPauseQuery,
        values: [args.templateId, args.presetName],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        templateId: row[0],
        presetName: row[1],
        pausedAt: row[2]
    };
}

export const deletePausesQuery = `-- name: DeletePauses :many
DELETE FROM prebuild_pauses pp
WHERE pp.template_id = $1::uuid
  AND ($2::text = '' OR pp.preset_name = $2::text)
RETURNING pp.preset_name`;

export interface DeletePausesArgs {
    templateId: string;
    presetName: string;
}

export interface DeletePausesRow {
    presetName: string;
}

export async function deletePauses(client: Client, args: DeletePausesArgs): Promise<DeletePausesRow[]> {
    const result = await client.query({
        text: deletePausesQuery,
        values: [args.templateId, args.presetName],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            presetName: row[0]
        };
    });
}

export const upsertDesiredOverridesQuery = `-- name: UpsertDesiredOverrides :many
WITH target AS (
  SELECT tvp.id, tvp.name
  FROM templates t
  JOIN template_version_presets tvp ON tvp.template_version_id = t.active_version_id
  WHERE t.id = $1::uuid
    AND tvp.id = ANY($2::uuid[])
    AND tvp.desired_instances IS NOT NULL
),
previous AS (
  SELECT o.preset_id, o.desired_instances
  FROM prebuild_desired_overrides o
  WHERE o.preset_id IN (SELECT tg.id FROM target tg)
),
written AS (
  INSERT INTO prebuild_desired_overrides (preset_id, desired_instances, set_at)
  SELECT tg.id, $3::integer, now() FROM target tg
  ON CONFLICT (preset_id) DO UPDATE
  SET desired_instances = EXCLUDED.desired_instances, set_at = EXCLUDED.set_at
  RETURNING preset_id
)
SELECT tg.id AS preset_id, tg.name AS preset_name,
       COALESCE(pv.desired_instances, -1)::integer AS previous_override
FROM target tg
LEFT JOIN previous pv ON pv.preset_id = tg.id
ORDER BY tg.name, tg.id`;

export interface UpsertDesiredOverridesArgs {
    templateId: string;
    presetIds: string[];
    desiredInstances: number;
}

export interface UpsertDesiredOverridesRow {
    presetId: string;
    presetName: string;
    previousOverride: number;
}

export async function upsertDesiredOverrides(client: Client, args: UpsertDesiredOverridesArgs): Promise<UpsertDesiredOverridesRow[]> {
    const result = await client.query({
        text: upsertDesiredOverridesQuery,
        values: [args.templateId, args.presetIds, args.desiredInstances],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            presetId: row[0],
            presetName: row[1],
            previousOverride: row[2]
        };
    });
}

export const deleteDesiredOverridesQuery = `-- name: DeleteDesiredOverrides :many
DELETE FROM prebuild_desired_overrides o
WHERE o.preset_id = ANY($1::uuid[])
RETURNING o.preset_id, o.desired_instances`;

export interface DeleteDesiredOverridesArgs {
    presetIds: string[];
}

export interface DeleteDesiredOverridesRow {
    presetId: string;
    desiredInstances: number;
}

export async function deleteDesiredOverrides(client: Client, args: DeleteDesiredOverridesArgs): Promise<DeleteDesiredOverridesRow[]> {
    const result = await client.query({
        text: deleteDesiredOverridesQuery,
        values: [args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            presetId: row[0],
            desiredInstances: row[1]
        };
    });
}

export const listDesiredOverridesQuery = `-- name: ListDesiredOverrides :many
SELECT org.name AS organization_name, t.name AS template_name, tvp.name AS preset_name,
       o.desired_instances, tvp.desired_instances::integer AS configured
FROM prebuild_desired_overrides o
JOIN template_version_presets tvp ON tvp.id = o.preset_id
JOIN templates t ON t.active_version_id = tvp.template_version_id
JOIN organizations org ON org.id = t.organization_id
ORDER BY org.name, t.name, tvp.name`;

export interface ListDesiredOverridesRow {
    organizationName: string;
    templateName: string;
    presetName: string;
    desiredInstances: number;
    configured: number;
}

export async function listDesiredOverrides(client: Client): Promise<ListDesiredOverridesRow[]> {
    const result = await client.query({
        text: listDesiredOverridesQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            organizationName: row[0],
            templateName: row[1],
            presetName: row[2],
            desiredInstances: row[3],
            configured: row[4]
        };
    });
}

export const resetPresetFailuresQuery = `-- name: ResetPresetFailures :many
WITH target AS (
  SELECT tvp.id, tvp.name, tvp.prebuild_status
  FROM templates t
  JOIN template_version_presets tvp ON tvp.template_version_id = t.active_version_id
  WHERE t.id = $1::uuid
    AND tvp.id = ANY($2::uuid[])
),
resets AS (
  INSERT INTO prebuild_failure_resets (preset_id, reset_at)
  SELECT tg.id, now() FROM target tg
  ON CONFLICT (preset_id) DO UPDATE SET reset_at = EXCLUDED.reset_at
  RETURNING preset_id
),
healed AS (
  UPDATE template_version_presets p
  SET prebuild_status = 'healthy'
  FROM target tg
  WHERE p.id = tg.id AND p.prebuild_status = 'hard_limited'
  RETURNING p.id
)
SELECT tg.id AS preset_id, tg.name AS preset_name, tg.prebuild_status::text AS previous_status
FROM target tg
ORDER BY tg.name, tg.id`;

export interface ResetPresetFailuresArgs {
    templateId: string;
    presetIds: string[];
}

export interface ResetPresetFailuresRow {
    presetId: string;
    presetName: string;
    previousStatus: string;
}

export async function resetPresetFailures(client: Client, args: ResetPresetFailuresArgs): Promise<ResetPresetFailuresRow[]> {
    const result = await client.query({
        text: resetPresetFailuresQuery,
        values: [args.templateId, args.presetIds],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            presetId: row[0],
            presetName: row[1],
            previousStatus: row[2]
        };
    });
}

export const recoverPresetFromHardLimitQuery = `-- name: RecoverPresetFromHardLimit :one
UPDATE template_version_presets
SET prebuild_status = 'healthy'
WHERE id = $1::uuid
  AND prebuild_status = 'hard_limited'
RETURNING id`;

export interface RecoverPresetFromHardLimitArgs {
    presetId: string;
}

export interface RecoverPresetFromHardLimitRow {
    id: string;
}

export async function recoverPresetFromHardLimit(client: Client, args: RecoverPresetFromHardLimitArgs): Promise<RecoverPresetFromHardLimitRow | null> {
    const result = await client.query({
        text: recoverPresetFromHardLimitQuery,
        values: [args.presetId],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        id: row[0]
    };
}

export const getRolloutStrategyQuery = `-- name: GetRolloutStrategy :one
SELECT COALESCE(
  (SELECT rp.strategy FROM prebuild_rollout_policies rp WHERE rp.template_id = $1::uuid),
  'replace'
)::text AS strategy`;

export interface GetRolloutStrategyArgs {
    templateId: string;
}

export interface GetRolloutStrategyRow {
    strategy: string;
}

export async function getRolloutStrategy(client: Client, args: GetRolloutStrategyArgs): Promise<GetRolloutStrategyRow | null> {
    const result = await client.query({
        text: getRolloutStrategyQuery,
        values: [args.templateId],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        strategy: row[0]
    };
}

export const upsertRolloutStrategyQuery = `-- name: UpsertRolloutStrategy :exec
INSERT INTO prebuild_rollout_policies (template_id, strategy, set_at)
VALUES ($1::uuid, $2::text, now())
ON CONFLICT (template_id) DO UPDATE SET strategy = EXCLUDED.strategy, set_at = EXCLUDED.set_at`;

export interface UpsertRolloutStrategyArgs {
    templateId: string;
    strategy: string;
}

export async function upsertRolloutStrategy(client: Client, args: UpsertRolloutStrategyArgs): Promise<void> {
    await client.query({
        text: upsertRolloutStrategyQuery,
        values: [args.templateId, args.strategy],
        rowMode: "array"
    });
}

export const listRolloutsQuery = `-- name: ListRollouts :many
SELECT t.id AS template_id, o.name AS organization_name, t.name AS template_name, rp.strategy,
       pr.promoted_at
FROM prebuild_rollout_policies rp
JOIN templates t ON t.id = rp.template_id
JOIN organizations o ON o.id = t.organization_id
LEFT JOIN prebuild_template_promotions pr
  ON pr.template_id = t.id AND pr.active_version_id = t.active_version_id
WHERE rp.strategy <> 'replace' AND NOT t.deleted
ORDER BY o.name, t.name`;

export interface ListRolloutsRow {
    templateId: string;
    organizationName: string;
    templateName: string;
    strategy: string;
    promotedAt: Date | null;
}

export async function listRollouts(client: Client): Promise<ListRolloutsRow[]> {
    const result = await client.query({
        text: listRolloutsQuery,
        values: [],
        rowMode: "array"
    });
    return result.rows.map(row => {
        return {
            templateId: row[0],
            organizationName: row[1],
            templateName: row[2],
            strategy: row[3],
            promotedAt: row[4]
        };
    });
}

export const getClaimFallbackPresetQuery = `-- name: GetClaimFallbackPreset :one
SELECT op.id AS preset_id
FROM template_version_presets np
JOIN templates t ON t.active_version_id = np.template_version_id
JOIN prebuild_template_promotions pr
  ON pr.template_id = t.id AND pr.active_version_id = t.active_version_id
JOIN template_version_presets op
  ON op.template_version_id = pr.previous_version_id AND op.name = np.name
WHERE np.id = $1::uuid
  AND NOT t.deleted
ORDER BY op.id
LIMIT 1`;

export interface GetClaimFallbackPresetArgs {
    presetId: string;
}

export interface GetClaimFallbackPresetRow {
    presetId: string;
}

export async function getClaimFallbackPreset(client: Client, args: GetClaimFallbackPresetArgs): Promise<GetClaimFallbackPresetRow | null> {
    const result = await client.query({
        text: getClaimFallbackPresetQuery,
        values: [args.presetId],
        rowMode: "array"
    });
    if (result.rows.length !== 1) {
        return null;
    }
    const row = result.rows[0];
    if (!row) {
        return null;
    }
    return {
        presetId: row[0]
    };
}

