// The reconciler tests' view of the seeding library (test/fixtures/seed.ts, which owns every row
// insert): a `Seed` bound to a pool with the short names and defaults these tests read best in,
// plus inspection helpers and the antagonist rows every scenario seeds beside itself.
import type pg from "pg";
import {
  type AgentLifecycle,
  type BuildOptions,
  JOB_STATES,
  type JobState,
  PREBUILDS_USER,
  promoteVersion,
  type SeededBuild,
  type SeededTemplate,
  seedAgents,
  seedBuild,
  seedOrganization,
  seedPreset,
  seedProvisionerDaemon,
  seedSchedule,
  seedTemplate,
  seedTemplateParameter,
  seedUser,
  seedVersion,
  seedWorkspace,
  setReconciliationPaused,
  type Transition,
} from "../../fixtures/seed.ts";

export { JOB_STATES, type JobState, type Transition };

export const PREBUILDS = PREBUILDS_USER;

export const TRANSITIONS: readonly Transition[] = ["start", "stop", "delete"];

/** A seeded template; `versionId` is its first version (active until another is promoted). */
export interface TemplateIds extends SeededTemplate {
  readonly versionId: string;
}

export type BuildIds = SeededBuild;

export class Seed {
  readonly pool: pg.Pool;
  constructor(pool: pg.Pool) {
    this.pool = pool;
  }

  async sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
    return this.pool.query(text, values);
  }

  async organization(name?: string): Promise<string> {
    return (await seedOrganization(this.pool, { name })).id;
  }

  async user(name?: string): Promise<string> {
    return (await seedUser(this.pool, { username: name })).id;
  }

  /** A template with one version, active, created now. */
  async template(
    options: {
      organizationId?: string;
      name?: string;
      deleted?: boolean;
      deprecated?: string;
    } = {},
  ): Promise<TemplateIds> {
    const t = await seedTemplate(this.pool, { ...options, createdAt: new Date() });
    return { ...t, versionId: t.activeVersionId };
  }

  /** Another version of the template, a second newer than now; active only if `activate`. */
  async version(
    t: TemplateIds,
    options: { name?: string; activate?: boolean } = {},
  ): Promise<string> {
    return seedVersion(this.pool, t, { ...options, createdAt: new Date(Date.now() + 1000) });
  }

  async promote(templateId: string, versionId: string): Promise<void> {
    await promoteVersion(this.pool, templateId, versionId);
  }

  async setTemplate(
    templateId: string,
    fields: { deleted?: boolean; deprecated?: string },
  ): Promise<void> {
    await this.sql(
      `UPDATE templates SET deleted = COALESCE($2, deleted), deprecated = COALESCE($3, deprecated)
       WHERE id = $1`,
      [templateId, fields.deleted ?? null, fields.deprecated ?? null],
    );
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
    return seedPreset(this.pool, {
      versionId,
      desiredInstances: options.desired,
      name: options.name,
      invalidateAfterSecs: options.ttlSeconds,
      schedulingTimezone: options.timezone,
      parameters: options.parameters,
      lastInvalidatedAt: options.lastInvalidatedAt,
    });
  }

  async schedule(presetId: string, cron: string, desired: number): Promise<void> {
    await seedSchedule(this.pool, { presetId, cron, desiredInstances: desired });
  }

  async templateParameter(
    versionId: string,
    name: string,
    options: { required?: boolean; defaultValue?: string } = {},
  ): Promise<void> {
    await seedTemplateParameter(this.pool, { versionId, name, ...options });
  }

  /** A workspace of the template, created now unless told otherwise. */
  async workspace(
    t: TemplateIds,
    options: { ownerId?: string; createdAt?: Date; deleted?: boolean; name?: string } = {},
  ): Promise<string> {
    return seedWorkspace(this.pool, {
      template: t,
      ...options,
      createdAt: options.createdAt ?? new Date(),
    });
  }

  /** A build and its job, created now unless told otherwise. */
  async build(
    t: TemplateIds,
    options: Omit<BuildOptions, "template" | "transition" | "job" | "agents"> & {
      transition: Transition;
      job: JobState;
      /** Agents on the build's resources: lifecycle states (start builds, whatever their job's
       * state; default one ready agent). */
      agents?: readonly AgentLifecycle[];
    },
  ): Promise<BuildIds> {
    const { agents, ...build } = options;
    const lifecycles = agents ?? (options.transition === "start" ? ["ready" as const] : []);
    return seedBuild(this.pool, {
      template: t,
      ...build,
      createdAt: options.createdAt ?? new Date(),
      agents: lifecycles.map((lifecycle) => ({ lifecycle })),
    });
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
    const build = {
      workspaceId,
      versionId: options.versionId,
      presetId: options.presetId,
      createdAt,
    };
    const first = await this.build(t, {
      ...build,
      buildNumber: 1,
      transition: "start",
      job: transition === "start" ? job : "succeeded",
      agents: [options.ready === false ? "starting" : "ready"],
    });
    if (transition === "start") return { workspaceId, latest: first };
    const latest = await this.build(t, { ...build, buildNumber: 2, transition, job, agents: [] });
    return { workspaceId, latest };
  }

  async provisionerDaemon(organizationId: string, lastSeenAt: Date | null): Promise<void> {
    await seedProvisionerDaemon(this.pool, { organizationId, lastSeenAt });
  }

  /** Removes an organization and everything in it (keeps a long-running test's database small). */
  async dropOrganization(organizationId: string): Promise<void> {
    await this.sql("DELETE FROM workspaces WHERE organization_id = $1", [organizationId]);
    await this.sql("DELETE FROM organizations WHERE id = $1", [organizationId]);
  }

  async setPaused(paused: boolean): Promise<void> {
    await setReconciliationPaused(this.pool, paused);
  }

  /** Completes the jobs as `state` (what a provisioner does); each gets a ready agent. */
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
    const withoutAgents = await this.sql(
      `SELECT j.id FROM provisioner_jobs j WHERE j.id = ANY($1::uuid[])
         AND NOT EXISTS (SELECT 1 FROM workspace_resources r WHERE r.job_id = j.id)`,
      [jobIds],
    );
    for (const { id } of withoutAgents.rows) {
      await seedAgents(this.pool, id, [{ lifecycle: "ready" }]);
    }
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
