-- Up Migration
-- The schema contract of DESIGN.md §2: names follow Coder's so operators can read and seed the
-- database the way they already know. Forward-only: sqlc reads this file as schema, so there is no
-- down section (it would read the DROPs too).

CREATE TYPE provisioner_job_status AS ENUM (
  'pending', 'running', 'succeeded', 'canceling', 'canceled', 'failed', 'unknown'
);
CREATE TYPE workspace_transition AS ENUM ('start', 'stop', 'delete');
CREATE TYPE prebuild_status AS ENUM ('healthy', 'hard_limited', 'validation_failed');
CREATE TYPE provisioner_job_type AS ENUM (
  'template_version_import', 'workspace_build', 'template_version_dry_run'
);
CREATE TYPE workspace_agent_lifecycle_state AS ENUM (
  'created', 'starting', 'start_timeout', 'start_error', 'ready',
  'shutting_down', 'shutdown_timeout', 'shutdown_error', 'off'
);
CREATE TYPE build_reason AS ENUM (
  'initiator', 'autostart', 'autostop', 'dormancy', 'failedstop', 'autodelete'
);

CREATE TABLE organizations (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  username text NOT NULL UNIQUE,
  is_system boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The prebuilds system user: owner of every unclaimed prebuild, initiator of every reconciler build.
INSERT INTO users (id, username, is_system)
VALUES ('c42fdf75-3097-471c-8c33-fb52454d81c0', 'prebuilds', true)
ON CONFLICT DO NOTHING;

-- active_version_id has no foreign key, as in the reference: promotion just updates it, and the
-- controller must survive a value that points nowhere.
CREATE TABLE templates (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name varchar(64) NOT NULL,
  active_version_id uuid NOT NULL,
  deleted boolean NOT NULL DEFAULT false,
  deprecated text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX templates_organization_id_name_idx
  ON templates (organization_id, lower(name)) WHERE NOT deleted;

CREATE TABLE template_versions (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  template_id uuid REFERENCES templates (id) ON DELETE CASCADE,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX template_versions_template_id_idx ON template_versions (template_id);

-- The parameters a template version declares; a preset must satisfy every required one.
CREATE TABLE template_version_parameters (
  template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
  name text NOT NULL,
  required boolean NOT NULL DEFAULT false,
  default_value text NOT NULL DEFAULT '',
  PRIMARY KEY (template_version_id, name)
);

CREATE TABLE template_version_presets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  template_version_id uuid NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
  name text NOT NULL,
  desired_instances integer,
  invalidate_after_secs integer DEFAULT 0,
  prebuild_status prebuild_status NOT NULL DEFAULT 'healthy',
  scheduling_timezone text NOT NULL DEFAULT '',
  last_invalidated_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (template_version_id, name)
);
-- The snapshot reads only presets that want prebuilds.
CREATE INDEX template_version_presets_prebuilds_idx
  ON template_version_presets (template_version_id) WHERE desired_instances IS NOT NULL;

CREATE TABLE template_version_preset_parameters (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  template_version_preset_id uuid NOT NULL
    REFERENCES template_version_presets (id) ON DELETE CASCADE,
  name text NOT NULL,
  value text NOT NULL,
  UNIQUE (template_version_preset_id, name)
);

CREATE TABLE template_version_preset_prebuild_schedules (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  preset_id uuid NOT NULL REFERENCES template_version_presets (id) ON DELETE CASCADE,
  cron_expression text NOT NULL,
  desired_instances integer NOT NULL
);
CREATE INDEX template_version_preset_prebuild_schedules_preset_id_idx
  ON template_version_preset_prebuild_schedules (preset_id);

CREATE TABLE workspaces (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  owner_id uuid NOT NULL REFERENCES users (id),
  organization_id uuid NOT NULL REFERENCES organizations (id),
  template_id uuid NOT NULL REFERENCES templates (id),
  deleted boolean NOT NULL DEFAULT false,
  name varchar(64) NOT NULL,
  last_used_at timestamptz NOT NULL DEFAULT now(),
  -- Lifecycle fields a claim resets (reference §7).
  autostart_schedule text,
  ttl bigint,
  next_start_at timestamptz,
  dormant_at timestamptz,
  deleting_at timestamptz
);
CREATE UNIQUE INDEX workspaces_owner_id_lower_idx
  ON workspaces (owner_id, lower(name)) WHERE NOT deleted;
CREATE INDEX workspaces_template_id_idx ON workspaces (template_id);

CREATE TABLE provisioner_jobs (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  started_at timestamptz,
  canceled_at timestamptz,
  completed_at timestamptz,
  error text,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  initiator_id uuid NOT NULL,
  type provisioner_job_type NOT NULL,
  input jsonb NOT NULL DEFAULT '{}',
  worker_id uuid,
  tags jsonb NOT NULL DEFAULT '{"scope": "organization"}',
  -- Derived exactly as the reference derives it (§1.2); 'unknown' is never produced.
  job_status provisioner_job_status NOT NULL GENERATED ALWAYS AS (
    CASE
      WHEN completed_at IS NOT NULL THEN
        CASE
          WHEN error IS NOT NULL AND error <> '' THEN 'failed'::provisioner_job_status
          WHEN canceled_at IS NOT NULL THEN 'canceled'::provisioner_job_status
          ELSE 'succeeded'::provisioner_job_status
        END
      ELSE
        CASE
          WHEN error IS NOT NULL AND error <> '' THEN 'failed'::provisioner_job_status
          WHEN canceled_at IS NOT NULL THEN 'canceling'::provisioner_job_status
          WHEN started_at IS NULL THEN 'pending'::provisioner_job_status
          ELSE 'running'::provisioner_job_status
        END
    END
  ) STORED
);
CREATE INDEX idx_provisioner_jobs_status ON provisioner_jobs (job_status);
-- The acquire query's queue: only jobs nobody started, canceled or completed.
CREATE INDEX provisioner_jobs_pending_idx ON provisioner_jobs (organization_id, created_at)
  WHERE started_at IS NULL AND canceled_at IS NULL AND completed_at IS NULL;

CREATE TABLE workspace_builds (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  template_version_id uuid NOT NULL REFERENCES template_versions (id),
  build_number integer NOT NULL,
  transition workspace_transition NOT NULL,
  initiator_id uuid NOT NULL,
  job_id uuid NOT NULL UNIQUE REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
  template_version_preset_id uuid REFERENCES template_version_presets (id) ON DELETE SET NULL,
  reason build_reason NOT NULL DEFAULT 'initiator',
  provisioner_state bytea,
  -- Serialises a claim's build against a delete build of the same workspace.
  UNIQUE (workspace_id, build_number)
);
CREATE INDEX workspace_builds_template_version_preset_id_idx
  ON workspace_builds (template_version_preset_id);

CREATE TABLE workspace_build_parameters (
  workspace_build_id uuid NOT NULL REFERENCES workspace_builds (id) ON DELETE CASCADE,
  name text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (workspace_build_id, name)
);

CREATE TABLE provisioner_daemons (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text NOT NULL,
  organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  tags jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz
);

CREATE TABLE workspace_resources (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  job_id uuid NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
  name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspace_resources_job_id_idx ON workspace_resources (job_id);

CREATE TABLE workspace_agents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  resource_id uuid NOT NULL REFERENCES workspace_resources (id) ON DELETE CASCADE,
  parent_id uuid REFERENCES workspace_agents (id) ON DELETE CASCADE,
  name text NOT NULL DEFAULT 'main',
  lifecycle_state workspace_agent_lifecycle_state NOT NULL DEFAULT 'created',
  deleted boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workspace_agents_resource_id_idx ON workspace_agents (resource_id);

CREATE TABLE site_configs (
  key varchar(256) PRIMARY KEY,
  value text NOT NULL
);

-- Every non-deleted workspace's highest-numbered build, with its job's status.
CREATE VIEW workspace_latest_builds AS
SELECT
  latest.id,
  -- From w, not from the lateral: a filter on workspace_id then reaches the workspaces index
  -- instead of computing every workspace's latest build first.
  w.id AS workspace_id,
  latest.template_version_id,
  latest.job_id,
  latest.template_version_preset_id,
  latest.transition,
  latest.created_at,
  latest.job_status
FROM workspaces w
CROSS JOIN LATERAL (
  SELECT wb.id, wb.workspace_id, wb.template_version_id, wb.job_id,
         wb.template_version_preset_id, wb.transition, wb.created_at, pj.job_status
  FROM workspace_builds wb
  JOIN provisioner_jobs pj ON pj.id = wb.job_id
  WHERE wb.workspace_id = w.id
  ORDER BY wb.build_number DESC
  LIMIT 1
) latest
WHERE NOT w.deleted;

-- A "prebuild build" is defined by its initiator, not by the workspace owner.
CREATE VIEW workspace_prebuild_builds AS
SELECT id, workspace_id, template_version_id, transition, job_id,
       template_version_preset_id, build_number
FROM workspace_builds
WHERE initiator_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid;

-- Unclaimed prebuilds: non-deleted workspaces owned by the prebuilds user that have a preset build.
-- ready: every non-deleted top-level agent of the latest build is ready (no agents: not ready).
CREATE VIEW workspace_prebuilds AS
SELECT
  w.id,
  w.name,
  w.template_id,
  w.created_at,
  COALESCE(agents.ready, false) AS ready,
  preset.template_version_preset_id AS current_preset_id
FROM workspaces w
CROSS JOIN LATERAL (
  SELECT wb.template_version_preset_id
  FROM workspace_builds wb
  WHERE wb.workspace_id = w.id AND wb.template_version_preset_id IS NOT NULL
  ORDER BY wb.build_number DESC
  LIMIT 1
) preset
LEFT JOIN LATERAL (
  SELECT bool_and(wa.lifecycle_state = 'ready') AS ready
  FROM workspace_latest_builds wlb
  JOIN workspace_resources wr ON wr.job_id = wlb.job_id
  JOIN workspace_agents wa ON wa.resource_id = wr.id
  WHERE wlb.workspace_id = w.id AND NOT wa.deleted AND wa.parent_id IS NULL
) agents ON true
WHERE w.owner_id = 'c42fdf75-3097-471c-8c33-fb52454d81c0'::uuid AND NOT w.deleted;
