-- Up Migration
-- Change tracking's cost to writers, third step (issue #16): a mark names the row that was
-- written, and the cycle finds its presets. Measured on the benchmark's provisioner (acquire,
-- agents, complete; batches interleaved across clones so the VM's noise falls on every variant),
-- a mark that is one plain INSERT costs about 1% of a job; what the marks of migration 0048 cost
-- (22.5% wall clock, 35.7% server CPU) was the lookup each did at write time (the job's build, the
-- agent's resource). The lookups now run in the cycle, once per marked row, in GetCycleWork's one
-- statement, through the view below: the same presets, found from the same committed rows (a mark
-- the cycle's snapshot sees was committed with the rows it names).
--
-- prebuild_dirty_rows: a job (its status or worker changed), a workspace resource (an agent of it
-- was added or changed) or a workspace (claimed, deleted, queued for deletion; or a build naming no
-- preset was inserted). Like prebuild_dirty_presets: no key, append-only, consumed by FinishCycle's
-- DELETE under the cycle's REPEATABLE READ snapshot, so a mark committed while a cycle runs stays.
CREATE TABLE prebuild_dirty_rows (
  kind text NOT NULL CHECK (kind IN ('job', 'resource', 'workspace')),
  row_id uuid NOT NULL
);

-- Every preset marked: directly (NULL = everything, a full resync), or through a marked row.
CREATE VIEW prebuild_marked_presets AS
SELECT d.preset_id FROM prebuild_dirty_presets d
UNION ALL
SELECT p.preset_id
FROM prebuild_dirty_rows r
CROSS JOIN LATERAL prebuild_presets_of_job(r.row_id) p
WHERE r.kind = 'job'
UNION ALL
SELECT p.preset_id
FROM prebuild_dirty_rows r
JOIN workspace_resources wr ON wr.id = r.row_id
CROSS JOIN LATERAL prebuild_presets_of_job(wr.job_id) p
WHERE r.kind = 'resource'
UNION ALL
SELECT p.preset_id
FROM prebuild_dirty_rows r
CROSS JOIN LATERAL prebuild_presets_of_workspaces(ARRAY[r.row_id]) p
WHERE r.kind = 'workspace';

-- provisioner_jobs: same trigger (per row, status or worker changed), the job's own id.
CREATE OR REPLACE FUNCTION prebuild_track_provisioner_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_rows (kind, row_id) VALUES ('job', NEW.id);
  RETURN NULL;
END
$$;

-- workspace_agents: the agent's resource (and its old one when it moves). A deleted agent marks its
-- job at once: a resource deleted later would leave the mark pointing at nothing. (A resource
-- deleted with its agents, by a cascade, is gone before their trigger runs: its own trigger below
-- marks the job.)
CREATE OR REPLACE FUNCTION prebuild_track_workspace_agent() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO prebuild_dirty_rows (kind, row_id)
    SELECT 'job', wr.job_id FROM workspace_resources wr WHERE wr.id = OLD.resource_id;
    RETURN NULL;
  END IF;
  INSERT INTO prebuild_dirty_rows (kind, row_id) VALUES ('resource', NEW.resource_id);
  IF TG_OP = 'UPDATE' AND OLD.resource_id IS DISTINCT FROM NEW.resource_id THEN
    INSERT INTO prebuild_dirty_rows (kind, row_id) VALUES ('resource', OLD.resource_id);
  END IF;
  RETURN NULL;
END
$$;

-- workspaces: the workspace's id (its presets are found by the cycle).
CREATE OR REPLACE FUNCTION prebuild_track_workspace() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_rows (kind, row_id) VALUES ('workspace', NEW.id);
  RETURN NULL;
END
$$;

-- workspace_builds inserts (every create): per row, the build's own preset, which is the mark
-- itself; a build naming none (a stop or delete build, an old row) marks its workspace. Updates
-- and deletes of builds (rare) keep migration 0042's statement-level trigger.
CREATE FUNCTION prebuild_track_workspace_build_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF NEW.template_version_preset_id IS NOT NULL THEN
    INSERT INTO prebuild_dirty_presets (preset_id) VALUES (NEW.template_version_preset_id);
  ELSE
    INSERT INTO prebuild_dirty_rows (kind, row_id) VALUES ('workspace', NEW.workspace_id);
  END IF;
  RETURN NULL;
END
$$;

-- workspace_resources deleted (their agents with them): the job they belonged to. Resources are
-- inserted with their agents, whose trigger marks them, and never updated.
CREATE FUNCTION prebuild_track_workspace_resource_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_rows (kind, row_id) VALUES ('job', OLD.job_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON workspace_resources
  FOR EACH ROW EXECUTE FUNCTION prebuild_track_workspace_resource_delete();

-- workspace_builds deleted: migration 0042 marks the presets they name; one naming none (a stop
-- or delete build) now marks its workspace, whose other builds' presets its deletion can change
-- (a job mark of it, resolved later, would find the build gone).
CREATE FUNCTION prebuild_track_workspace_build_delete() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_rows (kind, row_id) VALUES ('workspace', OLD.workspace_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER prebuild_track_delete_without_preset AFTER DELETE ON workspace_builds
  FOR EACH ROW WHEN (OLD.template_version_preset_id IS NULL)
  EXECUTE FUNCTION prebuild_track_workspace_build_delete();

DROP TRIGGER prebuild_track_insert ON workspace_builds;
CREATE TRIGGER prebuild_track_insert AFTER INSERT ON workspace_builds
  FOR EACH ROW EXECUTE FUNCTION prebuild_track_workspace_build_insert();

DO $$
DECLARE
  f text;
BEGIN
  FOREACH f IN ARRAY ARRAY[
    'prebuild_track_provisioner_job()', 'prebuild_track_workspace_agent()',
    'prebuild_track_workspace()', 'prebuild_track_workspace_build_insert()',
    'prebuild_track_workspace_resource_delete()', 'prebuild_track_workspace_build_delete()'
  ] LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$$;

-- The runtime role's list, as 0048 defines it, with the row marks: a cycle reads them through the
-- view (which calls the two lookup functions as the caller) and consumes them.
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
    -- `cancel-policy` (issue #13).
    'UPDATE (prebuild_cancel_policy) ON templates',
    -- `pause` / `resume` upsert the prebuilds_settings row.
    'INSERT, UPDATE (value) ON site_configs',
    -- Each cycle is recorded, and the same statement prunes old rows.
    'INSERT, DELETE ON prebuild_reconciliation_runs',
    'USAGE ON SEQUENCE prebuild_reconciliation_runs_id_seq',
    -- Change tracking (issue #16): a cycle reads and consumes the dirty presets (and marks again
    -- those whose actions failed), keeps each preset's next wake-up, and when it last resynced.
    'SELECT, INSERT, DELETE ON prebuild_dirty_presets',
    'SELECT, DELETE ON prebuild_dirty_rows',
    'SELECT ON prebuild_marked_presets',
    'EXECUTE ON FUNCTION prebuild_presets_of_job(uuid), prebuild_presets_of_workspaces(uuid[])',
    'SELECT, INSERT, DELETE, UPDATE (due_at) ON prebuild_preset_wakeups',
    'SELECT, UPDATE (last_full_resync_at) ON prebuild_reconciler_state',
    -- Pool controls (issue #15, migration 0044): `pause`/`resume --template`, `scale`, `reset`,
    -- `rollout`; the promotion record is written by its trigger only.
    'SELECT, INSERT, DELETE ON prebuild_pauses',
    'SELECT, INSERT, DELETE, UPDATE (desired_instances, set_at) ON prebuild_desired_overrides',
    'SELECT, INSERT, UPDATE (reset_at) ON prebuild_failure_resets',
    'SELECT, INSERT, UPDATE (strategy, set_at) ON prebuild_rollout_policies',
    'SELECT ON prebuild_template_promotions'
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
