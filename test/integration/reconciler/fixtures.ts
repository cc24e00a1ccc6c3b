// Seeding and inspection helpers for the reconciler's integration tests. Plain SQL (test seeding is
// the one place besides queries/ that writes SQL), small rows, ids returned for assertions.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { PREBUILDS_SYSTEM_USER_ID } from "../../../src/prebuildsUser.ts";
import { JOB_STATES, type JobState, jobColumnsFor } from "../../fixtures/seed.ts";

export { JOB_STATES, type JobState };

export const PREBUILDS = PREBUILDS_SYSTEM_USER_ID;

export type Transition = "start" | "stop" | "delete";
export const TRANSITIONS: readonly Transition[] = ["start", "stop", "delete"];

export interface TemplateIds {
  readonly organizationId: string;
  readonly templateId: string;
  readonly versionId: string;
}

export interface BuildIds {
  readonly buildId: string;
  readonly jobId: string;
}

export class Seed {
  readonly pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    return this.pool.query(text, values);
  }

  async organization(name = `org-${randomUUID().slice(0, 8)}`): Promise<string> {
    const id = randomUUID();
    await this.sql("INSERT INTO organizations (id, name) VALUES ($1, $2)", [id, name]);
    return id;
  }

  async user(name = `user-${randomUUID().slice(0, 8)}`): Promise<string> {
    const id = randomUUID();
    await this.sql("INSERT INTO users (id, username) VALUES ($1, $2)", [id, name]);
    return id;
  }

  /** A template with one version, active. */
  async template(
    options: {
      organizationId?: string;
      name?: string;
      deleted?: boolean;
      deprecated?: string;
    } = {},
  ): Promise<TemplateIds> {
    const organizationId = options.organizationId ?? (await this.organization());
    const templateId = randomUUID();
    const versionId = randomUUID();
    await this.sql(
      "INSERT INTO templates (id, organization_id, name, active_version_id, deleted, deprecated) VALUES ($1, $2, $3, $4, $5, $6)",
      [
        templateId,
        organizationId,
        options.name ?? `tpl-${templateId.slice(0, 8)}`,
        versionId,
        options.deleted ?? false,
        options.deprecated ?? "",
      ],
    );
    await this.sql(
      "INSERT INTO template_versions (id, template_id, organization_id, name) VALUES ($1, $2, $3, 'v1')",
      [versionId, templateId, organizationId],
    );
    return { organizationId, templateId, versionId };
  }

  /** Another version of the template; active only if `activate`. */
  async version(
    t: TemplateIds,
    options: { name?: string; activate?: boolean } = {},
  ): Promise<string> {
    const id = randomUUID();
    await this.sql(
      "INSERT INTO template_versions (id, template_id, organization_id, name, created_at) VALUES ($1, $2, $3, $4, now() + interval '1 second')",
      [id, t.templateId, t.organizationId, options.name ?? `v-${id.slice(0, 6)}`],
    );
    if (options.activate) await this.promote(t.templateId, id);
    return id;
  }

  async promote(templateId: string, versionId: string): Promise<void> {
    await this.sql("UPDATE templates SET active_version_id = $2 WHERE id = $1", [
      templateId,
      versionId,
    ]);
  }

  async setTemplate(
    templateId: string,
    fields: { deleted?: boolean; deprecated?: string },
  ): Promise<void> {
    if (fields.deleted !== undefined) {
      await this.sql("UPDATE templates SET deleted = $2 WHERE id = $1", [
        templateId,
        fields.deleted,
      ]);
    }
    if (fields.deprecated !== undefined) {
      await this.sql("UPDATE templates SET deprecated = $2 WHERE id = $1", [
        templateId,
        fields.deprecated,
      ]);
    }
  }

  async preset(
    versionId: string,
    options: {
      desired?: number | null;
      name?: string;
      ttlSeconds?: number;
      timezone?: string;
      parameters?: Record<string, string>;
      lastInvalidatedAt?: Date;
    } = {},
  ): Promise<string> {
    const id = randomUUID();
    await this.sql(
      `INSERT INTO template_version_presets
         (id, template_version_id, name, desired_instances, invalidate_after_secs, scheduling_timezone, last_invalidated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [
        id,
        versionId,
        options.name ?? `preset-${id.slice(0, 6)}`,
        options.desired === undefined ? 1 : options.desired,
        options.ttlSeconds ?? 0,
        options.timezone ?? "",
        options.lastInvalidatedAt ?? null,
      ],
    );
    for (const [name, value] of Object.entries(options.parameters ?? {})) {
      await this.sql(
        "INSERT INTO template_version_preset_parameters (template_version_preset_id, name, value) VALUES ($1, $2, $3)",
        [id, name, value],
      );
    }
    return id;
  }

  async schedule(presetId: string, cron: string, desired: number): Promise<void> {
    await this.sql(
      "INSERT INTO template_version_preset_prebuild_schedules (preset_id, cron_expression, desired_instances) VALUES ($1, $2, $3)",
      [presetId, cron, desired],
    );
  }

  async templateParameter(
    versionId: string,
    name: string,
    options: { required?: boolean; defaultValue?: string } = {},
  ): Promise<void> {
    await this.sql(
      "INSERT INTO template_version_parameters (template_version_id, name, required, default_value) VALUES ($1, $2, $3, $4)",
      [versionId, name, options.required ?? true, options.defaultValue ?? ""],
    );
  }

  async workspace(
    t: TemplateIds,
    options: { ownerId?: string; createdAt?: Date; deleted?: boolean; name?: string } = {},
  ): Promise<string> {
    const id = randomUUID();
    await this.sql(
      `INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, name, deleted)
       VALUES ($1, $2, $2, $3, $4, $5, $6, $7)`,
      [
        id,
        options.createdAt ?? new Date(),
        options.ownerId ?? PREBUILDS,
        t.organizationId,
        t.templateId,
        options.name ?? `ws-${id.slice(0, 12)}`,
        options.deleted ?? false,
      ],
    );
    return id;
  }

  async build(
    t: TemplateIds,
    options: {
      workspaceId: string;
      versionId: string;
      buildNumber: number;
      transition: Transition;
      job: JobState;
      presetId?: string | null;
      initiatorId?: string;
      createdAt?: Date;
      workerId?: string | null;
      /** Agents on the build's resources: lifecycle states (start builds; default one ready agent). */
      agents?: readonly string[];
    },
  ): Promise<BuildIds> {
    const buildId = randomUUID();
    const jobId = randomUUID();
    const at = options.createdAt ?? new Date();
    const ts = jobColumnsFor(options.job, at);
    const initiator = options.initiatorId ?? PREBUILDS;
    const worker =
      options.workerId !== undefined
        ? options.workerId
        : options.job === "pending"
          ? null
          : randomUUID();
    await this.sql(
      `INSERT INTO provisioner_jobs (id, created_at, updated_at, started_at, completed_at, canceled_at, error,
         organization_id, initiator_id, type, input, worker_id)
       VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, 'workspace_build', $9, $10)`,
      [
        jobId,
        at,
        ts.startedAt,
        ts.completedAt,
        ts.canceledAt,
        ts.error,
        t.organizationId,
        initiator,
        JSON.stringify({ workspace_build_id: buildId }),
        worker,
      ],
    );
    await this.sql(
      `INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id, build_number,
         transition, initiator_id, job_id, template_version_preset_id)
       VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        buildId,
        at,
        options.workspaceId,
        options.versionId,
        options.buildNumber,
        options.transition,
        initiator,
        jobId,
        options.presetId ?? null,
      ],
    );
    const agents = options.agents ?? (options.transition === "start" ? ["ready"] : []);
    if (agents.length > 0) {
      const resourceId = randomUUID();
      await this.sql("INSERT INTO workspace_resources (id, job_id, name) VALUES ($1, $2, 'main')", [
        resourceId,
        jobId,
      ]);
      for (const state of agents) {
        await this.sql(
          "INSERT INTO workspace_agents (resource_id, lifecycle_state) VALUES ($1, $2::workspace_agent_lifecycle_state)",
          [resourceId, state],
        );
      }
    }
    return { buildId, jobId };
  }

  /**
   * A prebuild of `presetId`: build 1 is a start of `versionId`; for a stop/delete latest
   * transition, build 1 succeeded and build 2 carries the transition and job state.
   */
  async prebuild(
    t: TemplateIds,
    options: {
      versionId: string;
      presetId: string | null;
      transition?: Transition;
      job?: JobState;
      createdAt?: Date;
      ready?: boolean;
      ownerId?: string;
    },
  ): Promise<{ workspaceId: string; latest: BuildIds }> {
    const transition = options.transition ?? "start";
    const job = options.job ?? "succeeded";
    const createdAt = options.createdAt ?? new Date(Date.now() - 60_000);
    const workspaceId = await this.workspace(t, {
      createdAt,
      ...(options.ownerId !== undefined && { ownerId: options.ownerId }),
    });
    const agents = options.ready === false ? ["starting"] : ["ready"];
    const first = await this.build(t, {
      workspaceId,
      versionId: options.versionId,
      buildNumber: 1,
      transition: "start",
      job: transition === "start" ? job : "succeeded",
      presetId: options.presetId,
      createdAt,
      agents,
    });
    if (transition === "start") return { workspaceId, latest: first };
    const latest = await this.build(t, {
      workspaceId,
      versionId: options.versionId,
      buildNumber: 2,
      transition,
      job,
      presetId: options.presetId,
      createdAt,
      agents: [],
    });
    return { workspaceId, latest };
  }

  async provisionerDaemon(organizationId: string, lastSeenAt: Date | null): Promise<void> {
    await this.sql(
      "INSERT INTO provisioner_daemons (name, organization_id, last_seen_at) VALUES ('daemon', $1, $2)",
      [organizationId, lastSeenAt],
    );
  }

  /** Removes an organization and everything in it (keeps a long-running test's database small). */
  async dropOrganization(organizationId: string): Promise<void> {
    await this.sql("DELETE FROM workspaces WHERE organization_id = $1", [organizationId]);
    await this.sql("DELETE FROM organizations WHERE id = $1", [organizationId]);
  }

  async setPaused(paused: boolean): Promise<void> {
    await this.sql(
      `INSERT INTO site_configs (key, value) VALUES ('prebuilds_settings', $1)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
      [JSON.stringify({ reconciliation_paused: paused })],
    );
  }

  /** Marks every pending/running job of the workspaces' latest builds as `state` (a provisioner). */
  async finishJobs(
    jobIds: readonly string[],
    state: "succeeded" | "failed",
    at = new Date(),
  ): Promise<void> {
    await this.sql(
      `UPDATE provisioner_jobs SET started_at = COALESCE(started_at, $2), completed_at = $2,
         error = CASE WHEN $3 THEN 'the build failed' END, worker_id = COALESCE(worker_id, gen_random_uuid())
       WHERE id = ANY($1::uuid[])`,
      [jobIds, at, state === "failed"],
    );
    await this.sql(
      `INSERT INTO workspace_resources (job_id, name)
       SELECT j.id, 'main' FROM provisioner_jobs j WHERE j.id = ANY($1::uuid[])
         AND NOT EXISTS (SELECT 1 FROM workspace_resources r WHERE r.job_id = j.id)`,
      [jobIds],
    );
    await this.sql(
      `INSERT INTO workspace_agents (resource_id, lifecycle_state)
       SELECT r.id, 'ready' FROM workspace_resources r WHERE r.job_id = ANY($1::uuid[])
         AND NOT EXISTS (SELECT 1 FROM workspace_agents a WHERE a.resource_id = r.id)`,
      [jobIds],
    );
  }
}

export interface WorkspaceView {
  readonly id: string;
  readonly ownerId: string;
  readonly deleted: boolean;
  readonly templateId: string;
  readonly createdAt: Date;
  readonly builds: readonly {
    readonly buildNumber: number;
    readonly transition: Transition;
    readonly jobStatus: string;
    readonly presetId: string | null;
    readonly versionId: string;
    readonly initiatorId: string;
    readonly jobId: string;
    readonly workerId: string | null;
    readonly canceledAt: Date | null;
    readonly completedAt: Date | null;
    readonly startedAt: Date | null;
  }[];
}

/** Every workspace of a template (deleted included) with all its builds, oldest build first. */
export async function workspacesOf(pool: pg.Pool, templateId: string): Promise<WorkspaceView[]> {
  const result = await pool.query(
    `SELECT w.id, w.owner_id, w.deleted, w.template_id, w.created_at,
       COALESCE(json_agg(json_build_object(
         'buildNumber', wb.build_number, 'transition', wb.transition, 'jobStatus', pj.job_status,
         'presetId', wb.template_version_preset_id, 'versionId', wb.template_version_id,
         'initiatorId', wb.initiator_id, 'jobId', pj.id, 'workerId', pj.worker_id,
         'canceledAt', pj.canceled_at, 'completedAt', pj.completed_at, 'startedAt', pj.started_at
       ) ORDER BY wb.build_number) FILTER (WHERE wb.id IS NOT NULL), '[]') AS builds
     FROM workspaces w
     LEFT JOIN workspace_builds wb ON wb.workspace_id = w.id
     LEFT JOIN provisioner_jobs pj ON pj.id = wb.job_id
     WHERE w.template_id = $1
     GROUP BY w.id
     ORDER BY w.created_at, w.id`,
    [templateId],
  );
  return result.rows.map((r) => ({
    id: r.id,
    ownerId: r.owner_id,
    deleted: r.deleted,
    templateId: r.template_id,
    createdAt: r.created_at,
    builds: (r.builds as Record<string, unknown>[]).map((b) => ({
      buildNumber: b.buildNumber as number,
      transition: b.transition as Transition,
      jobStatus: b.jobStatus as string,
      presetId: (b.presetId as string | null) ?? null,
      versionId: b.versionId as string,
      initiatorId: b.initiatorId as string,
      jobId: b.jobId as string,
      workerId: (b.workerId as string | null) ?? null,
      canceledAt: b.canceledAt ? new Date(b.canceledAt as string) : null,
      completedAt: b.completedAt ? new Date(b.completedAt as string) : null,
      startedAt: b.startedAt ? new Date(b.startedAt as string) : null,
    })),
  }));
}

/** Prebuilds the reconciler created for a preset: build 1 by the prebuilds user, not seeded. */
export function createdFor(
  workspaces: readonly WorkspaceView[],
  presetId: string,
  seeded: ReadonlySet<string> = new Set(),
): WorkspaceView[] {
  return workspaces.filter(
    (w) =>
      !seeded.has(w.id) &&
      w.builds[0]?.buildNumber === 1 &&
      w.builds[0]?.presetId === presetId &&
      w.builds[0]?.initiatorId === PREBUILDS,
  );
}

export function latestBuild(w: WorkspaceView) {
  const last = w.builds[w.builds.length - 1];
  if (last === undefined) throw new Error(`workspace ${w.id} has no builds`);
  return last;
}

/**
 * Rows that must never be touched by the reconciler, seeded next to every scenario: a user's
 * workspace with a pending first build on the same version and preset (not a prebuild: must not be
 * canceled), a stopped prebuild without a preset, a prebuild whose pending start is its SECOND build
 * (must not be canceled), and a user's running workspace on another template.
 */
export async function seedAntagonists(
  seed: Seed,
  t: TemplateIds,
  versionId: string,
  presetId: string,
): Promise<{ verify: () => Promise<void>; workspaceIds: ReadonlySet<string> }> {
  const userId = await seed.user();
  const userWorkspace = await seed.workspace(t, { ownerId: userId });
  await seed.build(t, {
    workspaceId: userWorkspace,
    versionId,
    buildNumber: 1,
    transition: "start",
    job: "pending",
    presetId,
    initiatorId: userId,
  });
  const stopped = await seed.prebuild(t, {
    versionId,
    presetId: null,
    transition: "stop",
    job: "succeeded",
  });
  // A sibling preset without prebuilds: on the scenario's own preset this pending build would
  // rightly count as starting (the CancelPending table covers that case on the same preset).
  const sibling = await seed.preset(versionId, { desired: null });
  const secondBuild = await seed.workspace(t);
  await seed.build(t, {
    workspaceId: secondBuild,
    versionId,
    buildNumber: 1,
    transition: "start",
    job: "succeeded",
    presetId: sibling,
    agents: [],
  });
  await seed.build(t, {
    workspaceId: secondBuild,
    versionId,
    buildNumber: 2,
    transition: "stop",
    job: "succeeded",
    presetId: sibling,
  });
  await seed.build(t, {
    workspaceId: secondBuild,
    versionId,
    buildNumber: 3,
    transition: "start",
    job: "pending",
    presetId: sibling,
  });
  const other = await seed.template();
  const otherUserWorkspace = await seed.workspace(other, { ownerId: userId });
  await seed.build(other, {
    workspaceId: otherUserWorkspace,
    versionId: other.versionId,
    buildNumber: 1,
    transition: "start",
    job: "succeeded",
    initiatorId: userId,
  });

  const ids = [userWorkspace, stopped.workspaceId, secondBuild, otherUserWorkspace];
  const fingerprint = async (): Promise<string> => {
    const r = await seed.sql(
      `SELECT w.id, w.owner_id, w.deleted, wb.build_number, pj.job_status, pj.canceled_at, pj.completed_at, pj.worker_id
       FROM workspaces w JOIN workspace_builds wb ON wb.workspace_id = w.id JOIN provisioner_jobs pj ON pj.id = wb.job_id
       WHERE w.id = ANY($1::uuid[]) ORDER BY w.id, wb.build_number`,
      [ids],
    );
    return JSON.stringify(r.rows);
  };
  const before = await fingerprint();
  return {
    workspaceIds: new Set(ids),
    verify: async () => {
      const after = await fingerprint();
      if (after !== before)
        throw new Error(`antagonist rows changed:\nbefore ${before}\nafter  ${after}`);
    },
  };
}
