-- Up Migration
-- Per-template cancel policy (issue #13): what the reconciler does with a stale version's
-- prebuild jobs. 'pending' (the default, the reference's behaviour) cancels the pending first
-- builds of an inactive preset; 'retain' cancels none (they finish and are deleted as running
-- prebuilds of an inactive preset); 'running' also asks running ones to cancel (cancelJob).
-- A column of templates, not a table of its own: the template's change-tracking trigger
-- (migration 0042, prebuild_track_templates) already marks every preset of every version of the
-- template dirty on any UPDATE of its row, so `prebuildsd cancel-policy` reaches the next
-- incremental cycle with no trigger of its own (test/integration/cancelPolicy.test.ts checks it).
ALTER TABLE templates ADD COLUMN prebuild_cancel_policy text NOT NULL DEFAULT 'pending'
  CONSTRAINT templates_prebuild_cancel_policy_check
  CHECK (prebuild_cancel_policy IN ('pending', 'retain', 'running'));

-- Jobs canceled after a worker acquired them (cancel policy "running", `prebuildsd cancel`): the
-- snapshot finds the ended ones whose workspace still needs a delete build here, not by reading
-- every canceled job ever (CountPendingNonActivePrebuilds).
CREATE INDEX provisioner_jobs_canceled_acquired_idx ON provisioner_jobs (id)
  WHERE canceled_at IS NOT NULL AND started_at IS NOT NULL AND completed_at IS NOT NULL;

-- The runtime role's list, as 0042 defines it, plus the policy column.
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
    'USAGE ON SEQUENCE prebuild_dirty_presets_id_seq',
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
