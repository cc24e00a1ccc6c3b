-- Up Migration
-- Change tracking's cost to provisioners (issue #16): migration 0042 marked presets from
-- provisioner_jobs with a statement-level trigger, which captured every updated row in transition
-- tables and ran for every update, heartbeats included (a worker bumps updated_at every few
-- seconds). This one fires per row, and only when a job's status or worker changes: the WHEN
-- condition is evaluated without calling the function, so heartbeats cost nothing. What it marks
-- is unchanged: every preset any build of the job's workspaces names.

DROP TRIGGER prebuild_track_update ON provisioner_jobs;
DROP FUNCTION prebuild_track_provisioner_jobs();

CREATE FUNCTION prebuild_track_provisioner_job() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
  INSERT INTO prebuild_dirty_presets (preset_id)
  SELECT p.preset_id FROM prebuild_presets_of_workspaces(ARRAY(
    SELECT wb.workspace_id FROM workspace_builds wb WHERE wb.job_id = NEW.id
  )) p;
  RETURN NULL;
END
$$;

CREATE TRIGGER prebuild_track_update AFTER UPDATE ON provisioner_jobs
  FOR EACH ROW
  WHEN (OLD.job_status IS DISTINCT FROM NEW.job_status OR OLD.worker_id IS DISTINCT FROM NEW.worker_id)
  EXECUTE FUNCTION prebuild_track_provisioner_job();
