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

-- The presets a job's write concerns: its build's preset, else every preset its workspace's builds
-- name. Never NULL (a NULL mark would ask for a full resync).
CREATE FUNCTION prebuild_mark_job(job uuid) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  build record;
BEGIN
  SELECT wb.workspace_id, wb.template_version_preset_id INTO build
  FROM workspace_builds wb
  WHERE wb.job_id = job;
  IF NOT FOUND THEN
    RETURN;
  ELSIF build.template_version_preset_id IS NOT NULL THEN
    INSERT INTO prebuild_dirty_presets (preset_id) VALUES (build.template_version_preset_id);
  ELSE
    INSERT INTO prebuild_dirty_presets (preset_id)
    SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY[build.workspace_id]) p;
  END IF;
END
$$;

-- provisioner_jobs: same trigger as migration 0047 (per row, status or worker changed).
CREATE OR REPLACE FUNCTION prebuild_track_provisioner_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  PERFORM prebuild_mark_job(NEW.id);
  RETURN NULL;
END
$$;

-- workspace_agents: readiness of the build whose resource the agent is in (the old resource's
-- build too when an agent moves).
CREATE FUNCTION prebuild_track_workspace_agent() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  IF TG_OP <> 'DELETE' THEN
    PERFORM prebuild_mark_job(wr.job_id) FROM workspace_resources wr WHERE wr.id = NEW.resource_id;
  END IF;
  IF TG_OP = 'DELETE' THEN
    PERFORM prebuild_mark_job(wr.job_id) FROM workspace_resources wr WHERE wr.id = OLD.resource_id;
  ELSIF TG_OP = 'UPDATE' THEN
    IF OLD.resource_id IS DISTINCT FROM NEW.resource_id THEN
      PERFORM prebuild_mark_job(wr.job_id) FROM workspace_resources wr WHERE wr.id = OLD.resource_id;
    END IF;
  END IF;
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
    'prebuild_mark_job(uuid)', 'prebuild_track_provisioner_job()',
    'prebuild_track_workspace_agent()', 'prebuild_track_workspace()'
  ] LOOP
    EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_temp', f, current_schema());
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
  END LOOP;
END
$$;
