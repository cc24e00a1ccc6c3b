-- Incremental reconciliation (issue #16, migration 0042): what writers marked dirty, which presets'
-- time-driven decisions are due, and the cycle's bookkeeping. Both run in the cycle's REPEATABLE
-- READ lock transaction, so the bookkeeping consumes exactly the marks the cycle read.

-- name: GetCycleWork :one
-- The presets an incremental cycle must read: every preset marked dirty, and every preset whose
-- wake-up is due at @now; plus whether anything asks for a full resync (a NULL mark: settings, or
-- the migration itself) and when the last full resync ran (any replica; the epoch when never).
SELECT
  COALESCE(
    (SELECT s.last_full_resync_at FROM prebuild_reconciler_state s LIMIT 1),
    'epoch'::timestamptz
  )::timestamptz AS last_full_resync_at,
  EXISTS (SELECT 1 FROM prebuild_dirty_presets d WHERE d.preset_id IS NULL)::boolean
    AS everything_dirty,
  ARRAY(
    SELECT d.preset_id FROM prebuild_dirty_presets d WHERE d.preset_id IS NOT NULL
    UNION
    SELECT w.preset_id FROM prebuild_preset_wakeups w WHERE w.due_at <= @now::timestamptz
  )::uuid[] AS preset_ids;

-- name: FinishCycle :one
-- The end of a cycle that read and acted, in its lock transaction. Consumes the dirty marks: a
-- DELETE under REPEATABLE READ reaches only the rows this transaction's snapshot sees, so a mark
-- committed after the cycle's snapshot stays for the next cycle. Marks again @retry_preset_ids
-- (presets with a failed action: nothing they would have written marks them). Replaces the
-- wake-ups of the presets the cycle looked at (@visited_preset_ids, or all of them when @full_resync)
-- with @due_preset_ids / @due_ats, and stamps a full resync. Only the lock holder writes the
-- wake-ups and the state row, so no other writer races these rows.
WITH consumed AS (
  DELETE FROM prebuild_dirty_presets
  RETURNING id
),
remarked AS (
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT r.preset_id FROM unnest(@retry_preset_ids::uuid[]) AS r (preset_id)
  RETURNING id
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
  (SELECT count(*) FROM consumed)::integer AS consumed,
  (SELECT count(*) FROM remarked)::integer AS remarked,
  (SELECT count(*) FROM scheduled)::integer AS scheduled,
  (SELECT count(*) FROM forgotten)::integer AS forgotten,
  (SELECT count(*) FROM resynced)::integer AS resynced;
