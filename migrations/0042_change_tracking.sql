-- Up Migration
-- Change tracking for incremental reconciliation, and claims by index (issue #16).
--
-- Every write that can change a preset's decision appends the preset's id to
-- prebuild_dirty_presets (statement-level triggers below, one INSERT per writing statement). A
-- cycle reads the dirty ids in its REPEATABLE READ snapshot and, in that same transaction,
-- deletes the rows: under REPEATABLE READ a DELETE only reaches the rows its snapshot sees, so a
-- change committed while the cycle runs keeps its row and is seen by the next cycle. Rows are
-- append-only (no upsert): an upsert that found an existing row would lean on a row the running
-- cycle may be about to delete. A NULL preset_id means "everything": the next cycle is a full
-- resync (settings changes; this migration, for deployments that predate it).
--
-- prebuild_preset_wakeups holds, per preset, the next instant at which its decision can change
-- without any write (src/plan/nextDecisionChange.ts); only the cycle writes it.
-- The triggers are SECURITY DEFINER so that every writer (the daemon's role, the platform's)
-- can mark presets without a grant on the table.

CREATE TABLE prebuild_dirty_presets (
  id bigserial PRIMARY KEY,
  preset_id uuid,
  marked_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO prebuild_dirty_presets (preset_id) VALUES (NULL);

CREATE TABLE prebuild_preset_wakeups (
  preset_id uuid PRIMARY KEY,
  due_at timestamptz NOT NULL
);
CREATE INDEX prebuild_preset_wakeups_due_at_idx ON prebuild_preset_wakeups (due_at);

-- One row: when the last full resync finished (any replica), so `reconcile --once` and every
-- replica agree on when the next one is due.
CREATE TABLE prebuild_reconciler_state (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_full_resync_at timestamptz
);
INSERT INTO prebuild_reconciler_state (singleton, last_full_resync_at) VALUES (true, NULL);

-- Which kind of cycle a run was ('full' or 'incremental'; NULL when it never read: paused, failed).
ALTER TABLE prebuild_reconciliation_runs ADD COLUMN kind text
  CHECK (kind IS NULL OR kind IN ('full', 'incremental'));

-- Claims by index: the unclaimed live prebuilds of a template. A claim walks only these (its
-- template's pool, whatever the fleet's size or history) instead of every prebuild.
CREATE INDEX workspaces_unclaimed_prebuilds_idx ON workspaces (template_id)
  WHERE owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid AND NOT deleted
    AND deleting_at IS NULL;

-- The presets a set of workspaces belongs to: every preset any of their builds names (a superset
-- of each one's current preset; a workspace has a handful of builds, read through the unique
-- (workspace_id, build_number) index).
CREATE FUNCTION prebuild_presets_of_workspaces(workspace_ids uuid[]) RETURNS TABLE (preset_id uuid)
LANGUAGE sql STABLE AS $$
  SELECT DISTINCT wb.template_version_preset_id
  FROM workspace_builds wb
  WHERE wb.workspace_id = ANY(workspace_ids) AND wb.template_version_preset_id IS NOT NULL
$$;

-- workspace_builds: the build's preset, or (a delete or stop build carries none) the workspace's.
CREATE FUNCTION prebuild_track_workspace_builds() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT DISTINCT n.template_version_preset_id FROM new_rows n
    WHERE n.template_version_preset_id IS NOT NULL
    UNION
    SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
      SELECT n.workspace_id FROM new_rows n WHERE n.template_version_preset_id IS NULL
    )) p;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
      SELECT n.workspace_id FROM new_rows n UNION SELECT o.workspace_id FROM old_rows o
    )) p
    UNION
    SELECT o.template_version_preset_id FROM old_rows o WHERE o.template_version_preset_id IS NOT NULL;
  ELSE
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT DISTINCT o.template_version_preset_id FROM old_rows o
    WHERE o.template_version_preset_id IS NOT NULL;
  END IF;
  RETURN NULL;
END
$$;

-- provisioner_jobs: a job changing status (acquired, finished, canceled) or worker. Inserts need
-- nothing (the build inserted next marks), deletes cascade to the builds.
CREATE FUNCTION prebuild_track_provisioner_jobs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
    SELECT wb.workspace_id
    FROM new_rows n
    JOIN old_rows o ON o.id = n.id
    JOIN workspace_builds wb ON wb.job_id = n.id
    WHERE n.job_status IS DISTINCT FROM o.job_status OR n.worker_id IS DISTINCT FROM o.worker_id
  )) p;
  RETURN NULL;
END
$$;

-- workspaces: ownership (a claim), deletion, a queued delete, or what the snapshot reports. Not
-- last_used_at or updated_at alone: activity bumps would make every preset dirty.
CREATE FUNCTION prebuild_track_workspaces() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
    SELECT n.id
    FROM new_rows n
    JOIN old_rows o ON o.id = n.id
    WHERE n.owner_id IS DISTINCT FROM o.owner_id
      OR n.deleted IS DISTINCT FROM o.deleted
      OR n.deleting_at IS DISTINCT FROM o.deleting_at
      OR n.template_id IS DISTINCT FROM o.template_id
      OR n.organization_id IS DISTINCT FROM o.organization_id
      OR n.created_at IS DISTINCT FROM o.created_at
      OR n.name IS DISTINCT FROM o.name
  )) p;
  RETURN NULL;
END
$$;

-- workspace_agents: readiness (claims, eligible counts) of the build whose resource they are in.
CREATE FUNCTION prebuild_track_workspace_agents() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
      SELECT wb.workspace_id
      FROM (SELECT DISTINCT n.resource_id FROM new_rows n) a
      JOIN workspace_resources wr ON wr.id = a.resource_id
      JOIN workspace_builds wb ON wb.job_id = wr.job_id
    )) p;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
      SELECT wb.workspace_id
      FROM (
        SELECT n.resource_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.lifecycle_state IS DISTINCT FROM o.lifecycle_state
          OR n.deleted IS DISTINCT FROM o.deleted
          OR n.parent_id IS DISTINCT FROM o.parent_id
          OR n.resource_id IS DISTINCT FROM o.resource_id
        UNION
        SELECT o.resource_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.resource_id IS DISTINCT FROM o.resource_id
      ) a
      JOIN workspace_resources wr ON wr.id = a.resource_id
      JOIN workspace_builds wb ON wb.job_id = wr.job_id
    )) p;
  ELSE
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
      SELECT wb.workspace_id
      FROM (SELECT DISTINCT o.resource_id FROM old_rows o) a
      JOIN workspace_resources wr ON wr.id = a.resource_id
      JOIN workspace_builds wb ON wb.job_id = wr.job_id
    )) p;
  END IF;
  RETURN NULL;
END
$$;

-- templates: any change (promotion, deletion, deprecation, and whatever a later column means)
-- marks every preset of every version of the template; templates change rarely.
CREATE FUNCTION prebuild_track_templates() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT DISTINCT tvp.id
  FROM (SELECT n.id FROM new_rows n UNION SELECT o.id FROM old_rows o) t
  JOIN template_versions tv ON tv.template_id = t.id
  JOIN template_version_presets tvp ON tvp.template_version_id = tv.id;
  RETURN NULL;
END
$$;

-- template_version_presets, their parameters and schedules: the preset itself.
CREATE FUNCTION prebuild_track_presets() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO prebuild_dirty_presets (preset_id) SELECT n.id FROM new_rows n;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO prebuild_dirty_presets (preset_id) SELECT n.id FROM new_rows n;
  ELSE
    INSERT INTO prebuild_dirty_presets (preset_id) SELECT o.id FROM old_rows o;
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION prebuild_track_preset_children() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  -- TG_ARGV[0] names the preset column: preset_id (schedules) or template_version_preset_id.
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('INSERT INTO prebuild_dirty_presets (preset_id) SELECT DISTINCT %I FROM new_rows', TG_ARGV[0]);
  ELSIF TG_OP = 'UPDATE' THEN
    EXECUTE format('INSERT INTO prebuild_dirty_presets (preset_id) SELECT %I FROM new_rows UNION SELECT %I FROM old_rows', TG_ARGV[0], TG_ARGV[0]);
  ELSE
    EXECUTE format('INSERT INTO prebuild_dirty_presets (preset_id) SELECT DISTINCT %I FROM old_rows', TG_ARGV[0]);
  END IF;
  RETURN NULL;
END
$$;

-- template_version_parameters: a required parameter decides whether a preset validates.
CREATE FUNCTION prebuild_track_version_parameters() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT tvp.id FROM template_version_presets tvp
    WHERE tvp.template_version_id IN (SELECT n.template_version_id FROM new_rows n);
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT tvp.id FROM template_version_presets tvp
    WHERE tvp.template_version_id IN (
      SELECT n.template_version_id FROM new_rows n UNION SELECT o.template_version_id FROM old_rows o
    );
  ELSE
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT tvp.id FROM template_version_presets tvp
    WHERE tvp.template_version_id IN (SELECT o.template_version_id FROM old_rows o);
  END IF;
  RETURN NULL;
END
$$;

-- site_configs: settings (pause, and whatever else lives there) reach every preset: full resync.
CREATE FUNCTION prebuild_track_site_configs() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id) VALUES (NULL);
  RETURN NULL;
END
$$;

-- SECURITY DEFINER functions resolve names in this schema only, whoever calls them.
DO $$
DECLARE
  f text;
BEGIN
  FOREACH f IN ARRAY ARRAY[
    'prebuild_track_workspace_builds()', 'prebuild_track_provisioner_jobs()',
    'prebuild_track_workspaces()', 'prebuild_track_workspace_agents()',
    'prebuild_track_templates()', 'prebuild_track_presets()',
    'prebuild_track_preset_children()', 'prebuild_track_version_parameters()',
    'prebuild_track_site_configs()'
  ] LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$$;

-- Transition tables allow one event per trigger, hence one trigger per event.
CREATE TRIGGER prebuild_track_insert AFTER INSERT ON workspace_builds
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_workspace_builds();
CREATE TRIGGER prebuild_track_update AFTER UPDATE ON workspace_builds
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_workspace_builds();
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON workspace_builds
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_workspace_builds();

CREATE TRIGGER prebuild_track_update AFTER UPDATE ON provisioner_jobs
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_provisioner_jobs();

CREATE TRIGGER prebuild_track_update AFTER UPDATE ON workspaces
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_workspaces();

CREATE TRIGGER prebuild_track_insert AFTER INSERT ON workspace_agents
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_workspace_agents();
CREATE TRIGGER prebuild_track_update AFTER UPDATE ON workspace_agents
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_workspace_agents();
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON workspace_agents
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_workspace_agents();

CREATE TRIGGER prebuild_track_update AFTER UPDATE ON templates
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_templates();

CREATE TRIGGER prebuild_track_insert AFTER INSERT ON template_version_presets
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_presets();
CREATE TRIGGER prebuild_track_update AFTER UPDATE ON template_version_presets
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_presets();
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON template_version_presets
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_presets();

CREATE TRIGGER prebuild_track_insert AFTER INSERT ON template_version_preset_prebuild_schedules
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_preset_children('preset_id');
CREATE TRIGGER prebuild_track_update AFTER UPDATE ON template_version_preset_prebuild_schedules
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_preset_children('preset_id');
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON template_version_preset_prebuild_schedules
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_preset_children('preset_id');

CREATE TRIGGER prebuild_track_insert AFTER INSERT ON template_version_preset_parameters
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_preset_children('template_version_preset_id');
CREATE TRIGGER prebuild_track_update AFTER UPDATE ON template_version_preset_parameters
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_preset_children('template_version_preset_id');
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON template_version_preset_parameters
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_preset_children('template_version_preset_id');

CREATE TRIGGER prebuild_track_insert AFTER INSERT ON template_version_parameters
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_version_parameters();
CREATE TRIGGER prebuild_track_update AFTER UPDATE ON template_version_parameters
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_version_parameters();
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON template_version_parameters
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_version_parameters();

CREATE TRIGGER prebuild_track_change AFTER INSERT OR UPDATE OR DELETE ON site_configs
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_site_configs();

-- The runtime role's list, as 0041 defines it, plus change tracking.
CREATE OR REPLACE FUNCTION prebuildsd_grant_runtime_privileges() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  schema_name text := quote_ident(current_schema());
  grants text[] := ARRAY[
    -- The snapshot, the plan, `status` and the metrics sampler read these.
    'SELECT ON organizations, templates, template_versions, template_version_parameters,
       template_version_presets, template_version_preset_parameters,
       template_version_preset_prebuild_schedules, workspaces, workspace_builds, provisioner_jobs,
       provisioner_daemons, workspace_resources, workspace_agents, site_configs,
       workspace_latest_builds, workspace_prebuild_builds, prebuild_reconciliation_runs,
       pgmigrations',
    -- Create's INSERT … RETURNING reads back the build parameters it wrote.
    'SELECT ON workspace_build_parameters',
    -- Create: workspace, job, first build and its parameters in one statement.
    'INSERT ON workspaces, provisioner_jobs, workspace_builds, workspace_build_parameters',
    -- Delete and orphan delete lock the workspace (FOR UPDATE) and stamp deleting_at; an orphan
    -- delete with no live provisioner marks it deleted.
    'UPDATE (deleted, deleting_at, updated_at) ON workspaces',
    -- CancelPending and `prebuildsd cancel` cancel a job; hung-job recovery fails or completes
    -- one (issue #12).
    'UPDATE (canceled_at, completed_at, updated_at, error, cancel_detail) ON provisioner_jobs',
    -- Hard limit / validation failure on first detection; `invalidate`.
    'UPDATE (prebuild_status, last_invalidated_at) ON template_version_presets',
    -- `promote`; the create transaction also locks the template row FOR SHARE, which needs an
    -- UPDATE privilege on some column of it.
    'UPDATE (active_version_id, updated_at) ON templates',
    -- `pause` / `resume` upsert the prebuilds_settings row.
    'INSERT, UPDATE (value) ON site_configs',
    -- Each cycle is recorded, and the same statement prunes old rows.
    'INSERT, DELETE ON prebuild_reconciliation_runs',
    'USAGE ON SEQUENCE prebuild_reconciliation_runs_id_seq',
    -- Change tracking (issue #16): a cycle reads and consumes the dirty presets (and marks again
    -- those whose actions failed), keeps each preset's next wake-up, and when it last resynced.
    'SELECT, INSERT, DELETE ON prebuild_dirty_presets',
    'USAGE ON SEQUENCE prebuild_dirty_presets_id_seq',
    'SELECT, INSERT, DELETE, UPDATE (due_at) ON prebuild_preset_wakeups',
    'SELECT, UPDATE (last_full_resync_at) ON prebuild_reconciler_state'
  ];
  g text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'prebuildsd_runtime') THEN
    BEGIN
      CREATE ROLE prebuildsd_runtime NOLOGIN;
    EXCEPTION
      -- Another database's migration created it at the same moment: fine.
      WHEN duplicate_object OR unique_violation THEN NULL;
      WHEN insufficient_privilege THEN
        RAISE WARNING 'prebuildsd: cannot create role prebuildsd_runtime (the migrating role lacks CREATEROLE); ask a DBA to run CREATE ROLE prebuildsd_runtime NOLOGIN, then run SELECT prebuildsd_grant_runtime_privileges(); as the schema owner';
        RETURN;
    END;
  END IF;
  EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %s FROM prebuildsd_runtime', schema_name);
  EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %s FROM prebuildsd_runtime', schema_name);
  EXECUTE format('GRANT USAGE ON SCHEMA %s TO prebuildsd_runtime', schema_name);
  FOREACH g IN ARRAY grants LOOP
    EXECUTE 'GRANT ' || g || ' TO prebuildsd_runtime';
  END LOOP;
END
$$;

SELECT prebuildsd_grant_runtime_privileges();
