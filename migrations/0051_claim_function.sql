-- Up Migration
-- Claims run as a PL/pgSQL function (issue #16): PostgreSQL keeps the statement's plan for the
-- session (its plan cache, invalidated by any DDL on the tables it reads), so a claim is no longer
-- parsed and planned each time it is sent. Planning was most of a claim's server time (0.5–0.7 ms
-- of ~1.1 ms at fleet L) and, with 10 users claiming at once on two cores, the CPU the claims
-- queued for: claim p50 5.5 → 2.7 ms, p99 12.7 → 8.2 ms on the benchmark's machine. A named
-- prepared statement did as well but lives on one server connection, which transaction pooling
-- (PgBouncer before 1.21) does not keep; a function call is an ordinary statement on any
-- connection. SECURITY INVOKER (the default): the caller needs the table privileges the
-- statement needed before. The statement, parameters and guarantees are those of the
-- ClaimPrebuiltWorkspace query it replaces, unchanged (queries/queue.sql now calls this function):
--
-- Gives one ready prebuild of the preset to a user (reference §7): its latest build is a
-- succeeded start on the template's active version, every top-level agent is ready, and the
-- template is not deleted. Which eligible prebuild is taken is unspecified, as in the reference.
-- Access path (issue #16): `target` resolves the preset to its template's row once (three primary
-- key lookups); the candidates come from workspaces_unclaimed_prebuilds_idx, the unclaimed live
-- prebuilds of that template (its pool, a few dozen rows at any fleet size or age), each checked
-- through its latest build (the unique (workspace_id, build_number) index). Walking every
-- prebuild's latest build made a claim grow with the fleet (22 ms at fleet L). `target` is read
-- through scalar subqueries rather than joined: joining the preset's template rows into the
-- candidates' join made planning most of a claim's cost (3.0 ms planning per claim at fleet L on
-- the benchmark's machine, 0.7 ms this way; execution about 1 ms either way).
-- current preset = the latest build's preset, else the newest older build that names one (the
-- workspace_prebuilds view's rule). Two departures from the reference's `UPDATE ... WHERE id IN
-- (subselect ... FOR UPDATE OF p SKIP LOCKED)`, both tested: the row locked is the workspace
-- itself, with the ownership test re-stated on it so PostgreSQL re-checks it on the locked row
-- version (a prebuild claimed by a transaction that committed after this statement's snapshot is
-- skipped, not claimed twice); and the pick is a MATERIALIZED CTE, evaluated once, because the
-- planner may rescan an IN subselect for every outer row, and a rescan past the row this statement
-- already updated takes the next prebuild too. The reconciler stamps deleting_at on a prebuild in
-- the statement that queues its delete build (DeletePrebuilds), so requiring
-- deleting_at IS NULL on the locked row skips a prebuild whose delete committed after this
-- statement's snapshot.
-- now NULL means the database clock (claimPrebuild); a platform may pass its own.
-- p_allow_previous_version: also a prebuild of the version the template's last promotion replaced
-- (p_preset_id is then that version's preset; a surge rollout's claim fallback, issue #15).
CREATE FUNCTION prebuild_claim_workspace(
  p_new_user_id uuid,
  p_new_name text,
  p_now timestamptz,
  p_autostart_schedule text,
  p_next_start_at timestamptz,
  p_ttl bigint,
  p_allow_previous_version boolean,
  p_preset_id uuid
) RETURNS TABLE (id uuid, name text)
LANGUAGE plpgsql
AS $claim$
#variable_conflict use_column
BEGIN
  RETURN QUERY
    WITH target AS MATERIALIZED (
      SELECT
        t.id AS template_id,
        t.active_version_id,
        -- The claim fallback of a surge rollout (issue #15, claimPrebuild's
        -- fallbackToPreviousVersion): the version the last promotion replaced; NULL matches nothing.
        CASE WHEN p_allow_previous_version THEN (
          SELECT pr.previous_version_id
          FROM prebuild_template_promotions pr
          WHERE pr.template_id = t.id AND pr.active_version_id = t.active_version_id
        ) END AS previous_version_id
      FROM template_version_presets tvp
      JOIN template_versions tv ON tv.id = tvp.template_version_id
      JOIN templates t ON t.id = tv.template_id
      WHERE tvp.id = p_preset_id AND NOT t.deleted
    ),
    claimable AS MATERIALIZED (
      SELECT candidate.id
      FROM workspaces candidate
      CROSS JOIN LATERAL (
        SELECT wb.template_version_id, wb.transition, wb.job_id, wb.template_version_preset_id
        FROM workspace_builds wb
        WHERE wb.workspace_id = candidate.id
        ORDER BY wb.build_number DESC
        LIMIT 1
      ) lb
      JOIN provisioner_jobs pj ON pj.id = lb.job_id
      WHERE candidate.template_id = (SELECT target.template_id FROM target)
        AND candidate.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
        AND NOT candidate.deleted
        AND candidate.deleting_at IS NULL
        AND lb.transition = 'start'::workspace_transition
        AND pj.job_status = 'succeeded'::provisioner_job_status
        AND lb.template_version_id IN (
          (SELECT target.active_version_id FROM target), (SELECT target.previous_version_id FROM target)
        )
        AND COALESCE(
          lb.template_version_preset_id,
          (
            SELECT older.template_version_preset_id
            FROM workspace_builds older
            WHERE older.workspace_id = candidate.id AND older.template_version_preset_id IS NOT NULL
            ORDER BY older.build_number DESC
            LIMIT 1
          )
        ) = p_preset_id
        AND COALESCE(
          (
            SELECT bool_and(wa.lifecycle_state = 'ready')
            FROM workspace_resources wr
            JOIN workspace_agents wa ON wa.resource_id = wr.id
            WHERE wr.job_id = lb.job_id AND NOT wa.deleted AND wa.parent_id IS NULL
          ),
          false
        )
      LIMIT 1
      FOR UPDATE OF candidate SKIP LOCKED
    )
    UPDATE workspaces w
    SET owner_id = p_new_user_id,
        name = p_new_name,
        updated_at = coalesce(p_now, now()),
        last_used_at = coalesce(p_now, now()),
        autostart_schedule = p_autostart_schedule,
        next_start_at = p_next_start_at,
        ttl = p_ttl,
        dormant_at = NULL,
        deleting_at = NULL
    FROM claimable
    WHERE w.id = claimable.id
      AND w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid
      AND NOT w.deleted
      AND w.deleting_at IS NULL
    RETURNING w.id, w.name::text;
END
$claim$;
