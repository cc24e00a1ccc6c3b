-- Operator controls (issue #15): the global pause switch, scoped pauses, runtime scale
-- overrides, hard-limit resets and rollout strategies. Reads the planner needs live in
-- snapshot.sql; these are the writes (and the look-ups that validate them).

-- The prebuilds settings row (site_configs key 'prebuilds_settings', JSON
-- {"reconciliation_paused": bool}), shared with the platform.
-- name: UpsertPrebuildsSettings :exec
INSERT INTO site_configs (key, value)
VALUES ('prebuilds_settings', @settings_json::text)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;

-- The presets of a template's active version that want prebuilds, by name: what `scale`, `reset`
-- and `pause --preset` accept (a name or a preset id).
-- name: ListActiveVersionPresets :many
SELECT tvp.id, tvp.name, tvp.desired_instances::integer AS desired_instances, tvp.prebuild_status
FROM templates t
JOIN template_version_presets tvp ON tvp.template_version_id = t.active_version_id
WHERE t.id = @template_id::uuid
  AND tvp.desired_instances IS NOT NULL
ORDER BY tvp.name, tvp.id;

-- name: ListPauses :many
-- Every scoped pause, with its template's and organization's names, for `status`.
SELECT pp.template_id, o.name AS organization_name, t.name AS template_name, pp.preset_name,
       pp.paused_at
FROM prebuild_pauses pp
JOIN templates t ON t.id = pp.template_id
JOIN organizations o ON o.id = t.organization_id
ORDER BY o.name, t.name, pp.preset_name;

-- name: InsertPause :one
-- No row: that pause was already there (the command says so).
INSERT INTO prebuild_pauses (template_id, preset_name)
VALUES (@template_id::uuid, @preset_name::text)
ON CONFLICT (template_id, preset_name) DO NOTHING
RETURNING template_id, preset_name, paused_at;

-- name: DeletePauses :many
-- `resume --template t`: every pause of the template (its own and its presets'); with
-- @preset_name, only that preset name's.
DELETE FROM prebuild_pauses pp
WHERE pp.template_id = @template_id::uuid
  AND (@preset_name::text = '' OR pp.preset_name = @preset_name::text)
RETURNING pp.preset_name;

-- name: UpsertDesiredOverrides :many
-- `scale <template> <n>`: the override for each listed preset (ids from ListActiveVersionPresets),
-- re-checked at write time to still be on the template's active version. Returns the previous
-- override (NULL when there was none).
WITH target AS (
  SELECT tvp.id, tvp.name
  FROM templates t
  JOIN template_version_presets tvp ON tvp.template_version_id = t.active_version_id
  WHERE t.id = @template_id::uuid
    AND tvp.id = ANY(@preset_ids::uuid[])
    AND tvp.desired_instances IS NOT NULL
),
previous AS (
  SELECT o.preset_id, o.desired_instances
  FROM prebuild_desired_overrides o
  WHERE o.preset_id IN (SELECT tg.id FROM target tg)
),
written AS (
  INSERT INTO prebuild_desired_overrides (preset_id, desired_instances, set_at)
  SELECT tg.id, @desired_instances::integer, now() FROM target tg
  ON CONFLICT (preset_id) DO UPDATE
  SET desired_instances = EXCLUDED.desired_instances, set_at = EXCLUDED.set_at
  RETURNING preset_id
)
SELECT tg.id AS preset_id, tg.name AS preset_name,
       COALESCE(pv.desired_instances, -1)::integer AS previous_override
FROM target tg
LEFT JOIN previous pv ON pv.preset_id = tg.id
ORDER BY tg.name, tg.id;

-- name: DeleteDesiredOverrides :many
-- `scale <template> --clear`: the overrides of the listed presets.
DELETE FROM prebuild_desired_overrides o
WHERE o.preset_id = ANY(@preset_ids::uuid[])
RETURNING o.preset_id, o.desired_instances;

-- name: ListDesiredOverrides :many
-- Every override in effect on an active version, for `status`.
SELECT org.name AS organization_name, t.name AS template_name, tvp.name AS preset_name,
       o.desired_instances, tvp.desired_instances::integer AS configured
FROM prebuild_desired_overrides o
JOIN template_version_presets tvp ON tvp.id = o.preset_id
JOIN templates t ON t.active_version_id = tvp.template_version_id
JOIN organizations org ON org.id = t.organization_id
ORDER BY org.name, t.name, tvp.name;

-- name: ResetPresetFailures :many
-- `reset <template>`: for each listed preset still on the template's active version, failures
-- built until now no longer count (prebuild_failure_resets), and a hard_limited status returns to
-- healthy in the same statement. Returns each preset with the status it had.
WITH target AS (
  SELECT tvp.id, tvp.name, tvp.prebuild_status
  FROM templates t
  JOIN template_version_presets tvp ON tvp.template_version_id = t.active_version_id
  WHERE t.id = @template_id::uuid
    AND tvp.id = ANY(@preset_ids::uuid[])
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
ORDER BY tg.name, tg.id;

-- name: RecoverPresetFromHardLimit :one
-- Self-recovery (issue #15): the cycle saw that the hard limit no longer holds for an active
-- preset whose stored status still says hard_limited. Only from hard_limited (never from
-- validation_failed); no row when it was not (another writer got there first).
UPDATE template_version_presets
SET prebuild_status = 'healthy'
WHERE id = @preset_id::uuid
  AND prebuild_status = 'hard_limited'
RETURNING id;

-- name: GetRolloutStrategy :one
-- The template's rollout strategy, 'replace' without a row.
SELECT COALESCE(
  (SELECT rp.strategy FROM prebuild_rollout_policies rp WHERE rp.template_id = @template_id::uuid),
  'replace'
)::text AS strategy;

-- name: UpsertRolloutStrategy :exec
-- `rollout <template> <replace|surge>`; the table's CHECK refuses any other strategy.
INSERT INTO prebuild_rollout_policies (template_id, strategy, set_at)
VALUES (@template_id::uuid, @strategy::text, now())
ON CONFLICT (template_id) DO UPDATE SET strategy = EXCLUDED.strategy, set_at = EXCLUDED.set_at;

-- name: ListRollouts :many
-- Templates with a surge policy and their last promotion, for `status`.
SELECT t.id AS template_id, o.name AS organization_name, t.name AS template_name, rp.strategy,
       pr.promoted_at
FROM prebuild_rollout_policies rp
JOIN templates t ON t.id = rp.template_id
JOIN organizations o ON o.id = t.organization_id
LEFT JOIN prebuild_template_promotions pr
  ON pr.template_id = t.id AND pr.active_version_id = t.active_version_id
WHERE rp.strategy <> 'replace' AND NOT t.deleted
ORDER BY o.name, t.name;

-- name: GetClaimFallbackPreset :one
-- The claim fallback of a surge rollout (issue #15): for a preset of a template's active version,
-- the preset of the same name in the version the template's last promotion replaced; no row when
-- there is none (never promoted, the promotion predates migration 0044, no such preset).
SELECT op.id AS preset_id
FROM template_version_presets np
JOIN templates t ON t.active_version_id = np.template_version_id
JOIN prebuild_template_promotions pr
  ON pr.template_id = t.id AND pr.active_version_id = t.active_version_id
JOIN template_version_presets op
  ON op.template_version_id = pr.previous_version_id AND op.name = np.name
WHERE np.id = @preset_id::uuid
  AND NOT t.deleted
ORDER BY op.id
LIMIT 1;
