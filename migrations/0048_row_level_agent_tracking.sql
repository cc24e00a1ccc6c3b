-- Up Migration
-- Change tracking's cost to provisioners, second step (issue #16). Measured on the benchmark's
-- provisioner (acquire, agents, complete; 1,000 jobs), what made each mark cost was not the
-- trigger firing (an empty trigger costs nothing measurable) but what it looked up: every preset
-- any build of the job's workspace names (prebuild_presets_of_workspaces), and, for agents, the
-- transition tables a statement-level trigger captures. A mark now names the preset of the job's
-- own build (every build prebuildsd or a platform creates for a preset records it, issue #11),
-- falling back to the workspace's presets only for a build that names none (a stop or delete
-- build, or an old row); agents and workspaces are tracked per row, with a WHEN clause, like jobs
-- since migration 0047. Same presets marked for every write the planner can see (the change
-- tracking tests), and a write it cannot see (an agent's name, a workspace's last_used_at) never
-- calls a function.

-- A mark is one heap row: no primary key (nothing looks a mark up; a cycle reads them all and
-- deletes what it read), no sequence. About 2% of a provisioner's job on the benchmark.
ALTER TABLE prebuild_dirty_presets DROP COLUMN id;

-- The presets a job's write concerns: its build's preset, else every preset its workspace's builds
-- name; never NULL (a NULL mark asks for a full resync). Plain SQL, so the statements below inline
-- it: one statement per mark, no function call (a plpgsql helper cost as much as the mark).
CREATE FUNCTION prebuild_presets_of_job(job uuid) RETURNS TABLE (preset_id uuid)
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(wb.template_version_preset_id, p.preset_id)
  FROM workspace_builds wb
  LEFT JOIN LATERAL prebuild_presets_of_workspaces(ARRAY[wb.workspace_id]) p
    ON wb.template_version_preset_id IS NULL
  WHERE wb.job_id = job AND COALESCE(wb.template_version_preset_id, p.preset_id) IS NOT NULL
$$;

-- provisioner_jobs: same trigger as migration 0047 (per row, status or worker changed).
CREATE OR REPLACE FUNCTION prebuild_track_provisioner_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT p.preset_id FROM prebuild_presets_of_job(NEW.id) p;
  RETURN NULL;
END
$$;

-- workspace_agents: readiness of the build whose resource the agent is in (the old resource's
-- build too when an agent moves). NEW is NULL on DELETE and OLD on INSERT.
CREATE FUNCTION prebuild_track_workspace_agent() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT p.preset_id
  FROM workspace_resources wr CROSS JOIN LATERAL prebuild_presets_of_job(wr.job_id) p
  WHERE wr.id IN (NEW.resource_id, OLD.resource_id);
  RETURN NULL;
END
$$;

DROP TRIGGER prebuild_track_insert ON workspace_agents;
DROP TRIGGER prebuild_track_update ON workspace_agents;
DROP TRIGGER prebuild_track_delete ON workspace_agents;
DROP FUNCTION prebuild_track_workspace_agents();

CREATE TRIGGER prebuild_track_insert AFTER INSERT ON workspace_agents
  FOR EACH ROW EXECUTE FUNCTION prebuild_track_workspace_agent();
CREATE TRIGGER prebuild_track_update AFTER UPDATE ON workspace_agents
  FOR EACH ROW
  WHEN (
    OLD.lifecycle_state IS DISTINCT FROM NEW.lifecycle_state
    OR OLD.deleted IS DISTINCT FROM NEW.deleted
    OR OLD.parent_id IS DISTINCT FROM NEW.parent_id
    OR OLD.resource_id IS DISTINCT FROM NEW.resource_id
  )
  EXECUTE FUNCTION prebuild_track_workspace_agent();
CREATE TRIGGER prebuild_track_delete AFTER DELETE ON workspace_agents
  FOR EACH ROW EXECUTE FUNCTION prebuild_track_workspace_agent();

-- workspaces: ownership (a claim), deletion, a queued delete, or what the snapshot reports; not
-- activity (last_used_at, updated_at), which now never reaches the function.
CREATE FUNCTION prebuild_track_workspace() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY[NEW.id]) p;
  RETURN NULL;
END
$$;

DROP TRIGGER prebuild_track_update ON workspaces;
DROP FUNCTION prebuild_track_workspaces();

CREATE TRIGGER prebuild_track_update AFTER UPDATE ON workspaces
  FOR EACH ROW
  WHEN (
    OLD.owner_id IS DISTINCT FROM NEW.owner_id
    OR OLD.deleted IS DISTINCT FROM NEW.deleted
    OR OLD.deleting_at IS DISTINCT FROM NEW.deleting_at
    OR OLD.template_id IS DISTINCT FROM NEW.template_id
    OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
    OR OLD.created_at IS DISTINCT FROM NEW.created_at
    OR OLD.name IS DISTINCT FROM NEW.name
  )
  EXECUTE FUNCTION prebuild_track_workspace();

DO $$
DECLARE
  f text;
BEGIN
  FOREACH f IN ARRAY ARRAY[
    'prebuild_track_provisioner_job()',
    'prebuild_track_workspace_agent()', 'prebuild_track_workspace()'
  ] LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$$;
REVOKE ALL ON FUNCTION prebuild_presets_of_job(uuid) FROM PUBLIC;

-- The runtime role's list, as 0045 defines it, without the marks' sequence (dropped above).
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
