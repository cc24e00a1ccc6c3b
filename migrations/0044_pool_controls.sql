-- Up Migration
-- Pool controls (issue #15): scoped pauses, runtime scale overrides, hard-limit resets, rollout
-- strategies, and the record of each template's last promotion. All of it is rarely-written
-- operator state that the planner reads, so every write to these tables marks a full resync
-- (one NULL row in prebuild_dirty_presets, statement-level triggers below; migration 0042); the
-- promotion record is covered by the templates trigger instead (see below).
-- The semantics are documented for operators in docs/pool-controls.md.

-- A pause of a whole template (preset_name '') or of one preset name of a template. Keyed by name,
-- not preset id: a paused preset stays paused across a promotion (the new version's preset of the
-- same name is paused, and so is the old one's cleanup). The global switch stays in site_configs.
CREATE TABLE prebuild_pauses (
  template_id uuid NOT NULL REFERENCES templates (id) ON DELETE CASCADE,
  preset_name text NOT NULL DEFAULT '',
  paused_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (template_id, preset_name)
);

-- `prebuildsd scale`: the desired count that replaces a preset's static desired_instances (its
-- schedules still apply on top). Keyed by preset id, so a newly promoted version starts from its
-- own configured count. 1000 is MAX_DESIRED_INSTANCES (src/plan/desiredInstances.ts).
CREATE TABLE prebuild_desired_overrides (
  preset_id uuid PRIMARY KEY REFERENCES template_version_presets (id) ON DELETE CASCADE,
  desired_instances integer NOT NULL CHECK (desired_instances BETWEEN 0 AND 1000),
  set_at timestamptz NOT NULL DEFAULT now()
);

-- `prebuildsd reset`: builds created at or before reset_at no longer count toward the preset's
-- backoff or hard limit.
CREATE TABLE prebuild_failure_resets (
  preset_id uuid PRIMARY KEY REFERENCES template_version_presets (id) ON DELETE CASCADE,
  reset_at timestamptz NOT NULL
);

-- `prebuildsd rollout`: how a promotion of the template retires the old version's prebuilds.
-- No row = 'replace' (delete them at once, the reference's behaviour).
CREATE TABLE prebuild_rollout_policies (
  template_id uuid PRIMARY KEY REFERENCES templates (id) ON DELETE CASCADE,
  strategy text NOT NULL CHECK (strategy IN ('replace', 'surge')),
  set_at timestamptz NOT NULL DEFAULT now()
);

-- The last promotion of each template, written by a trigger on templates whoever promotes (our
-- CLI or the platform): when a rollout started, and the version claims may fall back to.
CREATE TABLE prebuild_template_promotions (
  template_id uuid PRIMARY KEY REFERENCES templates (id) ON DELETE CASCADE,
  previous_version_id uuid,
  active_version_id uuid,
  promoted_at timestamptz NOT NULL
);

CREATE FUNCTION prebuild_record_promotion() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_template_promotions AS p
    (template_id, previous_version_id, active_version_id, promoted_at)
  VALUES (NEW.id, OLD.active_version_id, NEW.active_version_id, now())
  ON CONFLICT (template_id) DO UPDATE
  SET previous_version_id = EXCLUDED.previous_version_id,
      active_version_id = EXCLUDED.active_version_id,
      promoted_at = EXCLUDED.promoted_at;
  RETURN NULL;
END
$$;

-- Any write to operator state: the next cycle is a full resync.
CREATE FUNCTION prebuild_track_pool_controls() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id) VALUES (NULL);
  RETURN NULL;
END
$$;

DO $$
DECLARE
  f text;
BEGIN
  FOREACH f IN ARRAY ARRAY['prebuild_record_promotion()', 'prebuild_track_pool_controls()'] LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$$;

CREATE TRIGGER prebuild_record_promotion AFTER UPDATE OF active_version_id ON templates
  FOR EACH ROW WHEN (OLD.active_version_id IS DISTINCT FROM NEW.active_version_id)
  EXECUTE FUNCTION prebuild_record_promotion();

CREATE TRIGGER prebuild_track_change AFTER INSERT OR UPDATE OR DELETE ON prebuild_pauses
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_pool_controls();
CREATE TRIGGER prebuild_track_change AFTER INSERT OR UPDATE OR DELETE ON prebuild_desired_overrides
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_pool_controls();
CREATE TRIGGER prebuild_track_change AFTER INSERT OR UPDATE OR DELETE ON prebuild_failure_resets
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_pool_controls();
CREATE TRIGGER prebuild_track_change AFTER INSERT OR UPDATE OR DELETE ON prebuild_rollout_policies
  FOR EACH STATEMENT EXECUTE FUNCTION prebuild_track_pool_controls();
-- prebuild_template_promotions needs no mark of its own: it is written only by the trigger above,
-- inside an UPDATE of templates whose own trigger (0042) marks every preset of the template, and
-- incremental cycles read a template's presets together (a full resync per promotion would undo
-- the point of change tracking).

-- The runtime role's list, as 0042 defines it, plus the pool controls.
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
    -- Hard limit / validation failure on first detection, recovery, `reset`; `invalidate`.
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
    'SELECT, UPDATE (last_full_resync_at) ON prebuild_reconciler_state',
    -- Pool controls (issue #15): `pause`/`resume --template`, `scale`, `reset`, `rollout`; the
    -- promotion record is written by its trigger only.
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
