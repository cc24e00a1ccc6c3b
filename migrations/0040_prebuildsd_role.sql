-- Up Migration
-- The least-privilege role prebuildsd runs as (issue #8). Migrations run as the schema owner; the
-- daemon and the operator commands (run, reconcile, plan, status, pause, resume, promote,
-- invalidate) need only what is granted here: SELECT on what they read, INSERT/UPDATE (by column)
-- on what they write, DELETE on their own run log, and no DDL, TRUNCATE or other DELETE.
--
-- Roles are global to a PostgreSQL server, so the role is a NOLOGIN group role created only if it
-- is missing (several databases, or several migrations at once, may share it). Operators grant it
-- to the login role the daemon connects as:
--
--   CREATE ROLE prebuildsd LOGIN PASSWORD '…';
--   GRANT prebuildsd_runtime TO prebuildsd;
--
-- When the migrating role may not create roles, the migration warns and grants nothing; a DBA
-- then creates the role (CREATE ROLE prebuildsd_runtime NOLOGIN) and the schema owner runs
-- SELECT prebuildsd_grant_runtime_privileges(); — the same function every later migration that
-- adds a table the daemon uses calls again. It first revokes everything, so the role ends with
-- exactly this list whatever an earlier version granted.

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
    -- CancelPending cancels a pending job.
    'UPDATE (canceled_at, completed_at) ON provisioner_jobs',
    -- Hard limit / validation failure on first detection; `invalidate`.
    'UPDATE (prebuild_status, last_invalidated_at) ON template_version_presets',
    -- `promote`; the create transaction also locks the template row FOR SHARE, which needs an
    -- UPDATE privilege on some column of it.
    'UPDATE (active_version_id, updated_at) ON templates',
    -- `pause` / `resume` upsert the prebuilds_settings row.
    'INSERT, UPDATE (value) ON site_configs',
    -- Each cycle is recorded, and the same statement prunes old rows.
    'INSERT, DELETE ON prebuild_reconciliation_runs',
    'USAGE ON SEQUENCE prebuild_reconciliation_runs_id_seq'
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

-- Only the schema owner (or a superuser) should run it.
REVOKE ALL ON FUNCTION prebuildsd_grant_runtime_privileges() FROM PUBLIC;

SELECT prebuildsd_grant_runtime_privileges();
