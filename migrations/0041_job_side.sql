-- Up Migration
-- The job side (issue #12): a cancel signal for jobs a worker holds, truly-pending-only
-- acquisition, the reference's provisioner tag matching, template version provisioner tags, and
-- where a canceled job says how it ended.

-- A canceled job's `error` must stay empty (job_status derives "failed" from any error, reference
-- §1.2), so how a cancellation ended — force-aborted after the grace, recovered as hung, or the
-- handler's own error while it stopped — is kept here instead.
ALTER TABLE provisioner_jobs ADD COLUMN cancel_detail text;

-- The provisioner tags every build of this version needs (Coder keeps them on the version's import
-- job). Prebuild jobs carry them, merged with PREBUILDS_PROVISIONER_TAGS.
ALTER TABLE template_versions ADD COLUMN provisioner_tags jsonb NOT NULL DEFAULT '{}';

-- The cancel signal. A row trigger whose WHEN clause fires only when canceled_at goes from NULL to
-- a value on a job some worker holds (started, not completed): a pending job canceled by
-- cancelJob or CancelPending is completed in the same UPDATE, has nobody to tell, and sends
-- nothing — so a bulk cancel of 10,000 pending jobs sends no notification at all. pg_notify is
-- delivered when the transaction commits, never before, and never for one that rolls back.
CREATE FUNCTION notify_provisioner_job_canceled() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('provisioner_job_canceled', NEW.id::text);
  RETURN NULL;
END
$$;

CREATE TRIGGER provisioner_job_canceled
AFTER UPDATE OF canceled_at ON provisioner_jobs
FOR EACH ROW
WHEN (
  OLD.canceled_at IS NULL AND NEW.canceled_at IS NOT NULL
  AND NEW.started_at IS NOT NULL AND NEW.completed_at IS NULL
)
EXECUTE FUNCTION notify_provisioner_job_canceled();

-- Coder's provisionersdk.MutateTags as SQL: no scope means organization scope; an organization
-- scope (or an unknown one) has an empty owner; a user scope keeps its owner.
CREATE FUNCTION provisioner_tags_normalized(tags jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN tags ->> 'scope' = 'user'
      THEN tags || jsonb_build_object('owner', coalesce(tags ->> 'owner', ''))
    ELSE tags || '{"scope": "organization", "owner": ""}'::jsonb
  END
$$;

-- Coder's provisioner_tagset_contains, over normalized tag sets: an untagged job
-- ({"scope": "organization", "owner": ""}) goes only to an untagged provisioner (exact match);
-- any other job to a provisioner whose tags contain all of the job's.
CREATE FUNCTION provisioner_tagset_contains(provisioner_tags jsonb, job_tags jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN provisioner_tags_normalized(job_tags) = '{"scope": "organization", "owner": ""}'::jsonb
      THEN provisioner_tags_normalized(job_tags) = provisioner_tags_normalized(provisioner_tags)
    ELSE provisioner_tags_normalized(job_tags) <@ provisioner_tags_normalized(provisioner_tags)
  END
$$;

-- The acquire queue holds only truly pending jobs: an error alone makes a job failed.
DROP INDEX provisioner_jobs_pending_idx;
CREATE INDEX provisioner_jobs_pending_idx ON provisioner_jobs (organization_id, created_at)
  WHERE started_at IS NULL AND canceled_at IS NULL AND completed_at IS NULL
    AND coalesce(error, '') = '';

-- The runtime role gains what `prebuildsd cancel` (cancelJob) and hung-job recovery write.
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

SELECT prebuildsd_grant_runtime_privileges();
