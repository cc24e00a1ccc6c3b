-- Incremental reconciliation (issue #16, migration 0042): what writers marked dirty, which presets'
-- time-driven decisions are due, and the cycle's bookkeeping. Both run in the cycle's REPEATABLE
-- READ lock transaction, so the bookkeeping consumes exactly the marks the cycle read.

-- name: GetCycleWork :one
-- What the next cycle must read. `now`: sqlc.narg(now) (a test's or `plan --at`'s clock), else the
-- database's. marked_presets: the presets marked dirty (directly, or through a marked job,
-- resource or workspace: prebuild_marked_presets, migration 0049) plus those whose wake-up is due
-- at `now`.
-- preset_ids: those, widened by the one decision that crosses presets: a surge rollout (issue
-- #15) holds the previous version's preset back by its active partner of the same name, so a
-- marked preset of a `surge` template brings the same-name presets of the template's active and
-- previous versions. Nothing else a preset's plan reads belongs to another preset (planAll), so
-- other templates are not widened: 10 changed presets read 10 presets, not their 10 templates'
-- 500 (fleet L; through the presets' primary key, the rollout policy and the versions' index).
-- everything_dirty: a NULL mark asks for a full resync (settings; the migration itself).
-- last_full_resync_at: when the last full resync ran (any replica; the epoch when never).
-- last_run_failed: the newest recorded cycle (any replica) failed.
WITH clock AS (
  SELECT COALESCE(sqlc.narg(now)::timestamptz, statement_timestamp()) AS now
),
marked AS (
  SELECT m.preset_id FROM prebuild_marked_presets m WHERE m.preset_id IS NOT NULL
  UNION
  SELECT w.preset_id FROM prebuild_preset_wakeups w, clock c WHERE w.due_at <= c.now
),
widened AS (
  SELECT m.preset_id FROM marked m
  UNION
  SELECT partner.id
  FROM marked m
  JOIN template_version_presets tvp ON tvp.id = m.preset_id
  JOIN template_versions tv ON tv.id = tvp.template_version_id
  JOIN prebuild_rollout_policies rp ON rp.template_id = tv.template_id AND rp.strategy = 'surge'
  JOIN templates t ON t.id = tv.template_id
  LEFT JOIN prebuild_template_promotions pr ON pr.template_id = t.id
  JOIN template_version_presets partner
    ON partner.template_version_id IN (t.active_version_id, pr.previous_version_id)
    AND partner.name = tvp.name
)
SELECT
  (SELECT c.now FROM clock c)::timestamptz AS now,
  COALESCE(
    (SELECT s.last_full_resync_at FROM prebuild_reconciler_state s LIMIT 1),
    'epoch'::timestamptz
  )::timestamptz AS last_full_resync_at,
  EXISTS (SELECT 1 FROM prebuild_dirty_presets d WHERE d.preset_id IS NULL)::boolean
    AS everything_dirty,
  COALESCE((
    SELECT r.outcome = 'failed'
    FROM prebuild_reconciliation_runs r
    ORDER BY r.id DESC
    LIMIT 1
  ), false)::boolean AS last_run_failed,
  (SELECT count(*) FROM marked)::integer AS marked_presets,
  ARRAY(SELECT w.preset_id FROM widened w)::uuid[] AS preset_ids;

-- name: FinishCycle :one
-- The end of a cycle that read and acted, in its lock transaction. Consumes the dirty marks (of
-- presets and of rows): a DELETE under REPEATABLE READ reaches only the rows this transaction's
-- snapshot sees, so a mark committed after the cycle's snapshot stays for the next cycle. Marks
-- again @retry_preset_ids
-- (presets with a failed action: nothing they would have written marks them). Replaces the
-- wake-ups of the presets the cycle looked at (@visited_preset_ids, or all of them when @full_resync)
-- with @due_preset_ids / @due_ats, and stamps a full resync. Only the lock holder writes the
-- wake-ups and the state row, so no other writer races these rows.
WITH consumed AS (
  DELETE FROM prebuild_dirty_presets
  RETURNING preset_id
),
consumed_rows AS (
  DELETE FROM prebuild_dirty_rows
  RETURNING row_id
),
remarked AS (
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT r.preset_id FROM unnest(@retry_preset_ids::uuid[]) AS r (preset_id)
  RETURNING preset_id
),
forgotten AS (
  DELETE FROM prebuild_preset_wakeups w
  WHERE (@full_resync::boolean OR w.preset_id = ANY(@visited_preset_ids::uuid[]))
    AND NOT (w.preset_id = ANY(@due_preset_ids::uuid[]))
  RETURNING w.preset_id
),
scheduled AS (
  INSERT INTO prebuild_preset_wakeups (preset_id, due_at)
  SELECT d.preset_id, d.due_at
  FROM unnest(@due_preset_ids::uuid[], @due_ats::timestamptz[]) AS d (preset_id, due_at)
  ON CONFLICT (preset_id) DO UPDATE SET due_at = excluded.due_at
  RETURNING preset_id
),
resynced AS (
  UPDATE prebuild_reconciler_state
  SET last_full_resync_at = @now::timestamptz
  WHERE @full_resync::boolean
  RETURNING singleton
)
SELECT
  ((SELECT count(*) FROM consumed) + (SELECT count(*) FROM consumed_rows))::integer AS consumed,
  (SELECT count(*) FROM remarked)::integer AS remarked,
  (SELECT count(*) FROM scheduled)::integer AS scheduled,
  (SELECT count(*) FROM forgotten)::integer AS forgotten,
  (SELECT count(*) FROM resynced)::integer AS resynced;

-- name: MarkEverythingDirty :exec
-- A NULL mark: the next cycle (any replica, `reconcile --once` too) is a full resync. Sent on its
-- own connection by a cycle whose bookkeeping (FinishCycle) failed after it acted, so that the
-- wake-ups it could not store are not missed until the next periodic resync.
INSERT INTO prebuild_dirty_presets (preset_id) VALUES (NULL);
