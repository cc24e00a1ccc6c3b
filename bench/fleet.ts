// Set-based fleet generator for the benchmark: every table is filled by one
// `INSERT … SELECT … FROM generate_series` (no per-row round trips), with ids derived from the row's
// coordinates (`md5('w:t:p:i')::uuid`) so that related rows can be joined without lookups.
//
// A fleet is templates × versions × presets; the last version of each template is active. Every
// active preset gets `runningPerActivePreset` running prebuilds (succeeded start build, job,
// resource, ready agent). `historicalBuilds` adds the history a real deployment accumulates, so the
// snapshot queries must use indexes instead of scanning everything:
//   - 40% deleted prebuilds of old versions (start + delete build each);
//   - 30% claimed prebuilds now owned by people (prebuild start, claim start, stop);
//   - 20% failed prebuild builds outside the backoff lookback (one per active preset, the rest on
//     old versions), kept as evidence as the reference does;
//   - 10% people's own workspaces (start + stop, no preset).
import type { ClientBase } from "pg";
import { PREBUILDS_SYSTEM_USER_ID } from "../src/prebuildsUser.ts";

export interface FleetSpec {
  readonly name: string;
  readonly templates: number;
  readonly versionsPerTemplate: number;
  readonly presetsPerVersion: number;
  /** desired_instances of every preset (old versions keep theirs, as real presets do). */
  readonly desiredInstances: number;
  /** Running prebuilds generated for each preset of an active version (0 = empty pools). */
  readonly runningPerActivePreset: number;
  readonly historicalBuilds: number;
}

export const FLEETS = {
  S: {
    name: "S",
    templates: 20,
    versionsPerTemplate: 2,
    presetsPerVersion: 5,
    desiredInstances: 10,
    runningPerActivePreset: 10,
    historicalBuilds: 10_000,
  },
  M: {
    name: "M",
    templates: 60,
    versionsPerTemplate: 5,
    presetsPerVersion: 5,
    desiredInstances: 10,
    runningPerActivePreset: 10,
    historicalBuilds: 30_000,
  },
  L: {
    name: "L",
    templates: 600,
    versionsPerTemplate: 10,
    presetsPerVersion: 5,
    desiredInstances: 10,
    runningPerActivePreset: 10,
    historicalBuilds: 300_000,
  },
  /** Issue #16's largest: only when asked (`--fleet XL`), its generation alone takes minutes. */
  XL: {
    name: "XL",
    templates: 2_000,
    versionsPerTemplate: 10,
    presetsPerVersion: 5,
    desiredInstances: 10,
    runningPerActivePreset: 10,
    historicalBuilds: 1_000_000,
  },
} as const satisfies Record<string, FleetSpec>;

export type FleetName = keyof typeof FLEETS;

/** 1,000 active presets × 10 desired, nothing running: one cycle must create 10,000 prebuilds. */
export const CREATE_FLEET: FleetSpec = {
  name: "create",
  templates: 200,
  versionsPerTemplate: 2,
  presetsPerVersion: 5,
  desiredInstances: 10,
  runningPerActivePreset: 0,
  historicalBuilds: 0,
};

export const HUMAN_USERS = 100;
/** Parameters each preset sets (and each of its builds carries). */
export const PARAMETERS_PER_PRESET = 2;

/** How the historical builds are split; every count is derived from the spec alone. */
export function historyShape(spec: FleetSpec) {
  const h = spec.historicalBuilds;
  const deletedPrebuilds = spec.versionsPerTemplate > 1 ? Math.floor((0.4 * h) / 2) : 0;
  const claimedPrebuilds = Math.floor((0.3 * h) / 3);
  const failedPrebuilds = Math.floor(0.2 * h);
  const usedBuilds = 2 * deletedPrebuilds + 3 * claimedPrebuilds + failedPrebuilds;
  const peopleWorkspaces = Math.max(0, Math.floor((h - usedBuilds) / 2));
  return { deletedPrebuilds, claimedPrebuilds, failedPrebuilds, peopleWorkspaces };
}

export interface FleetCounts {
  readonly templates: number;
  readonly templateVersions: number;
  readonly presets: number;
  readonly activePresets: number;
  readonly presetParameters: number;
  readonly schedules: number;
  readonly runningPrebuilds: number;
  readonly workspaces: number;
  readonly workspaceBuilds: number;
  readonly historicalBuilds: number;
  readonly provisionerJobs: number;
  readonly buildParameters: number;
  readonly workspaceAgents: number;
}

/** The row counts `generateFleet` produces for a spec (the smoke test checks them). */
export function expectedCounts(spec: FleetSpec): FleetCounts {
  const versions = spec.templates * spec.versionsPerTemplate;
  const presets = versions * spec.presetsPerVersion;
  const activePresets = spec.templates * spec.presetsPerVersion;
  const running = activePresets * spec.runningPerActivePreset;
  const h = historyShape(spec);
  const historicalBuilds =
    2 * h.deletedPrebuilds + 3 * h.claimedPrebuilds + h.failedPrebuilds + 2 * h.peopleWorkspaces;
  const builds = running + historicalBuilds;
  return {
    templates: spec.templates,
    templateVersions: versions,
    presets,
    activePresets,
    presetParameters: presets * PARAMETERS_PER_PRESET,
    schedules: spec.templates * spec.versionsPerTemplate,
    runningPrebuilds: running,
    workspaces:
      running + h.deletedPrebuilds + h.claimedPrebuilds + h.failedPrebuilds + h.peopleWorkspaces,
    workspaceBuilds: builds,
    historicalBuilds,
    provisionerJobs: builds,
    buildParameters: running * PARAMETERS_PER_PRESET,
    workspaceAgents: running,
  };
}

export const ORGANIZATION_ID_SQL = "md5('org')::uuid";

/** One generator step: a label for progress output and one statement. */
interface Step {
  readonly label: string;
  readonly sql: string;
}

// Each statement refers to "now" as $1::timestamptz (replaced by a literal) so generated ages line
// up with the injected clock; the spec's numbers are inlined (validated integers, never input).
function steps(spec: FleetSpec): Step[] {
  const T = spec.templates;
  const V = spec.versionsPerTemplate;
  const P = spec.presetsPerVersion;
  const N = spec.runningPerActivePreset;
  const h = historyShape(spec);
  const prebuilds = `'${PREBUILDS_SYSTEM_USER_ID}'::uuid`;
  const org = ORGANIZATION_ID_SQL;
  const tpl = (t: string) => `md5('t:' || ${t})::uuid`;
  const ver = (t: string, v: string) => `md5('tv:' || ${t} || ':' || ${v})::uuid`;
  const preset = (t: string, v: string, p: string) =>
    `md5('p:' || ${t} || ':' || ${v} || ':' || ${p})::uuid`;
  const human = (k: string) => `md5('user:' || (1 + (${k}) % ${HUMAN_USERS}))::uuid`;

  // Coordinates of every historical workspace, shared by its workspace, job and build inserts.
  const deleted = `SELECT k, 1 + k % ${T} AS t, 1 + (k / ${T}) % ${Math.max(V - 1, 1)} AS v,
      1 + (k / ${T * Math.max(V - 1, 1)}) % ${P} AS p,
      $1::timestamptz - make_interval(days => 3 + k % 27) AS at
    FROM generate_series(0, ${h.deletedPrebuilds - 1}) AS k`;
  const claimed = `SELECT k, 1 + k % ${T} AS t, ${V} - (k / ${T}) % ${V} AS v,
      1 + (k / ${T * V}) % ${P} AS p,
      $1::timestamptz - make_interval(days => 2 + k % 28) AS at
    FROM generate_series(0, ${h.claimedPrebuilds - 1}) AS k`;
  // The first T×P failures land on the active presets (one each, two days old); the rest on old versions.
  const failed = `SELECT k, 1 + k % ${T} AS t,
      CASE WHEN k < ${T * P} OR ${V} = 1 THEN ${V} ELSE 1 + (k / ${T}) % ${Math.max(V - 1, 1)} END AS v,
      1 + (k / ${T}) % ${P} AS p,
      $1::timestamptz - make_interval(days => 2 + k % 8) AS at
    FROM generate_series(0, ${h.failedPrebuilds - 1}) AS k`;
  const people = `SELECT k, 1 + k % ${T} AS t, 1 + k % ${V} AS v,
      $1::timestamptz - make_interval(days => 1 + k % 60) AS at
    FROM generate_series(0, ${h.peopleWorkspaces - 1}) AS k`;
  const running = `SELECT t, p, i, $1::timestamptz - make_interval(mins => 30 + (t * 7 + p * 3 + i) % 90) AS at
    FROM generate_series(1, ${T}) AS t, generate_series(1, ${P}) AS p, generate_series(1, ${N}) AS i`;

  const job = (
    idExpr: string,
    buildIdExpr: string,
    initiator: string,
    createdAt: string,
    status: "succeeded" | "failed",
    from: string,
    where = "",
  ) => `INSERT INTO provisioner_jobs (id, created_at, updated_at, started_at, completed_at, error,
      organization_id, initiator_id, type, input, tags)
    SELECT ${idExpr}, ${createdAt}, ${createdAt} + interval '2 minutes', ${createdAt} + interval '1 second',
      ${createdAt} + interval '2 minutes', ${status === "failed" ? "'terraform apply failed'" : "NULL"},
      ${org}, ${initiator}, 'workspace_build',
      jsonb_build_object('workspace_build_id', ${buildIdExpr}),
      '{"scope": "organization", "owner": ""}'
    FROM (${from}) AS s ${where}`;

  const result: Step[] = [
    {
      label: "organization and people",
      sql: `WITH o AS (INSERT INTO organizations (id, name) VALUES (${org}, 'bench') RETURNING id)
        INSERT INTO users (id, username)
        SELECT md5('user:' || u)::uuid, 'person-' || u FROM generate_series(1, ${HUMAN_USERS}) AS u`,
    },
    {
      label: "templates",
      sql: `INSERT INTO templates (id, organization_id, name, active_version_id, created_at, updated_at)
        SELECT ${tpl("t")}, ${org}, 'template-' || t, ${ver("t", String(V))},
          $1::timestamptz - interval '90 days', $1::timestamptz - interval '1 day'
        FROM generate_series(1, ${T}) AS t`,
    },
    {
      label: "template versions and their parameters",
      sql: `WITH v AS (
          INSERT INTO template_versions (id, template_id, organization_id, name, created_at)
          SELECT ${ver("t", "v")}, ${tpl("t")}, ${org}, 'v' || v,
            $1::timestamptz - make_interval(days => ${V} - v + 1)
          FROM generate_series(1, ${T}) AS t, generate_series(1, ${V}) AS v
          RETURNING id)
        INSERT INTO template_version_parameters (template_version_id, name, required, default_value)
        SELECT id, name, required, dflt FROM v,
          (VALUES ('region', true, ''), ('size', false, 'small')) AS p(name, required, dflt)`,
    },
    {
      label: "presets",
      // Preset 1 of every version is scheduled (timezone + one all-day schedule), preset 2 has a TTL.
      sql: `INSERT INTO template_version_presets (id, template_version_id, name, desired_instances,
          invalidate_after_secs, scheduling_timezone, created_at)
        SELECT ${preset("t", "v", "p")}, ${ver("t", "v")}, 'preset-' || p, ${spec.desiredInstances},
          CASE WHEN p = 2 THEN 30 * 86400 ELSE 0 END, CASE WHEN p = 1 THEN 'UTC' ELSE '' END,
          $1::timestamptz - make_interval(days => ${V} - v + 1)
        FROM generate_series(1, ${T}) AS t, generate_series(1, ${V}) AS v, generate_series(1, ${P}) AS p`,
    },
    {
      label: "preset parameters and schedules",
      sql: `WITH s AS (
          INSERT INTO template_version_preset_prebuild_schedules (preset_id, cron_expression, desired_instances)
          SELECT ${preset("t", "v", "1")}, '* 0-23 * * *', ${spec.desiredInstances}
          FROM generate_series(1, ${T}) AS t, generate_series(1, ${V}) AS v
          RETURNING 1)
        INSERT INTO template_version_preset_parameters (template_version_preset_id, name, value)
        SELECT ${preset("t", "v", "p")}, x.name, CASE WHEN x.name = 'region' THEN 'region-' || p ELSE 'large' END
        FROM generate_series(1, ${T}) AS t, generate_series(1, ${V}) AS v, generate_series(1, ${P}) AS p,
          (VALUES ('region'), ('size')) AS x(name)`,
    },
  ];

  if (N > 0) {
    const w = "md5('w:' || t || ':' || p || ':' || i)::uuid";
    const j = "md5('j:' || t || ':' || p || ':' || i)::uuid";
    const b = "md5('b:' || t || ':' || p || ':' || i)::uuid";
    const r = "md5('r:' || t || ':' || p || ':' || i)::uuid";
    result.push(
      {
        label: "running prebuilds: workspaces",
        sql: `INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at)
          SELECT ${w}, at, at, ${prebuilds}, ${org}, ${tpl("t")},
            'prebuild-' || substr(md5('n:' || t || ':' || p || ':' || i), 1, 16), at
          FROM (${running}) AS s`,
      },
      { label: "running prebuilds: jobs", sql: job(j, b, prebuilds, "at", "succeeded", running) },
      {
        label: "running prebuilds: builds",
        sql: `INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id,
            build_number, transition, initiator_id, job_id, template_version_preset_id)
          SELECT ${b}, at, at + interval '2 minutes', ${w}, ${ver("t", String(V))}, 1, 'start',
            ${prebuilds}, ${j}, ${preset("t", String(V), "p")}
          FROM (${running}) AS s`,
      },
      {
        label: "running prebuilds: build parameters",
        sql: `INSERT INTO workspace_build_parameters (workspace_build_id, name, value)
          SELECT ${b}, x.name, CASE WHEN x.name = 'region' THEN 'region-' || p ELSE 'large' END
          FROM (${running}) AS s, (VALUES ('region'), ('size')) AS x(name)`,
      },
      {
        label: "running prebuilds: resources and ready agents",
        sql: `WITH r AS (
            INSERT INTO workspace_resources (id, job_id, name, created_at)
            SELECT ${r}, ${j}, 'dev', at + interval '1 minute' FROM (${running}) AS s
            RETURNING id, created_at)
          INSERT INTO workspace_agents (resource_id, name, lifecycle_state, created_at)
          SELECT id, 'main', 'ready', created_at FROM r`,
      },
    );
  }

  if (h.deletedPrebuilds > 0) {
    // Workspace k: build 1 (prebuild start of an old preset), build 2 (delete), both succeeded.
    const w = "md5('dw:' || k)::uuid";
    result.push(
      {
        label: "history: deleted prebuilds of old versions",
        sql: `INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, deleted, name, last_used_at)
          SELECT ${w}, at, at + interval '1 day', ${prebuilds}, ${org}, ${tpl("t")}, true,
            'prebuild-' || substr(md5('dn:' || k), 1, 16), at
          FROM (${deleted}) AS s`,
      },
      {
        label: "history: deleted prebuilds' jobs",
        sql: `${job("md5('dj1:' || k)::uuid", "md5('db1:' || k)::uuid", prebuilds, "at", "succeeded", deleted)};
          ${job("md5('dj2:' || k)::uuid", "md5('db2:' || k)::uuid", prebuilds, "(at + interval '1 day')", "succeeded", deleted)}`,
      },
      {
        label: "history: deleted prebuilds' builds",
        sql: `INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id,
            build_number, transition, initiator_id, job_id, template_version_preset_id)
          SELECT md5('db' || n || ':' || k)::uuid, at + make_interval(days => n - 1), at + make_interval(days => n - 1),
            ${w}, ${ver("t", "v")}, n, (CASE WHEN n = 1 THEN 'start' ELSE 'delete' END)::workspace_transition,
            ${prebuilds}, md5('dj' || n || ':' || k)::uuid, ${preset("t", "v", "p")}
          FROM (${deleted}) AS s, generate_series(1, 2) AS n`,
      },
    );
  }

  if (h.claimedPrebuilds > 0) {
    // Build 1: the prebuild's start; build 2: the claim (a person's start, same preset); build 3: stop.
    const w = "md5('cw:' || k)::uuid";
    result.push(
      {
        label: "history: claimed prebuilds",
        sql: `INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at)
          SELECT ${w}, at, at + interval '2 days', ${human("k")}, ${org}, ${tpl("t")},
            'claimed-' || k, at + interval '1 day'
          FROM (${claimed}) AS s`,
      },
      {
        label: "history: claimed prebuilds' jobs",
        sql: `INSERT INTO provisioner_jobs (id, created_at, updated_at, started_at, completed_at,
            organization_id, initiator_id, type, input)
          SELECT md5('cj' || n || ':' || k)::uuid, at + make_interval(hours => n), at + make_interval(hours => n),
            at + make_interval(hours => n), at + make_interval(hours => n, mins => 2), ${org},
            CASE WHEN n = 1 THEN ${prebuilds} ELSE ${human("k")} END, 'workspace_build',
            jsonb_build_object('workspace_build_id', md5('cb' || n || ':' || k)::uuid)
          FROM (${claimed}) AS s, generate_series(1, 3) AS n`,
      },
      {
        label: "history: claimed prebuilds' builds",
        sql: `INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id,
            build_number, transition, initiator_id, job_id, template_version_preset_id)
          SELECT md5('cb' || n || ':' || k)::uuid, at + make_interval(hours => n), at + make_interval(hours => n),
            ${w}, ${ver("t", "v")}, n, (CASE WHEN n = 3 THEN 'stop' ELSE 'start' END)::workspace_transition,
            CASE WHEN n = 1 THEN ${prebuilds} ELSE ${human("k")} END, md5('cj' || n || ':' || k)::uuid,
            CASE WHEN n < 3 THEN ${preset("t", "v", "p")} END
          FROM (${claimed}) AS s, generate_series(1, 3) AS n`,
      },
    );
  }

  if (h.failedPrebuilds > 0) {
    const w = "md5('fw:' || k)::uuid";
    const j = "md5('fj:' || k)::uuid";
    result.push(
      {
        label: "history: failed prebuilds outside the lookback",
        sql: `INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at)
          SELECT ${w}, at, at, ${prebuilds}, ${org}, ${tpl("t")},
            'prebuild-' || substr(md5('fn:' || k), 1, 16), at
          FROM (${failed}) AS s`,
      },
      {
        label: "history: failed jobs",
        sql: job(j, "md5('fb:' || k)::uuid", prebuilds, "at", "failed", failed),
      },
      {
        label: "history: failed builds",
        sql: `INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id,
            build_number, transition, initiator_id, job_id, template_version_preset_id)
          SELECT md5('fb:' || k)::uuid, at, at, ${w}, ${ver("t", "v")}, 1, 'start', ${prebuilds}, ${j},
            ${preset("t", "v", "p")}
          FROM (${failed}) AS s`,
      },
    );
  }

  if (h.peopleWorkspaces > 0) {
    const w = "md5('hw:' || k)::uuid";
    result.push(
      {
        label: "history: people's own workspaces",
        sql: `INSERT INTO workspaces (id, created_at, updated_at, owner_id, organization_id, template_id, name, last_used_at)
          SELECT ${w}, at, at, ${human("k")}, ${org}, ${tpl("t")}, 'workspace-' || k, at
          FROM (${people}) AS s`,
      },
      {
        label: "history: people's jobs and builds",
        sql: `INSERT INTO provisioner_jobs (id, created_at, updated_at, started_at, completed_at,
            organization_id, initiator_id, type, input)
          SELECT md5('hj' || n || ':' || k)::uuid, at + make_interval(hours => n), at + make_interval(hours => n),
            at + make_interval(hours => n), at + make_interval(hours => n, mins => 2), ${org}, ${human("k")},
            'workspace_build', jsonb_build_object('workspace_build_id', md5('hb' || n || ':' || k)::uuid)
          FROM (${people}) AS s, generate_series(1, 2) AS n;
          INSERT INTO workspace_builds (id, created_at, updated_at, workspace_id, template_version_id,
            build_number, transition, initiator_id, job_id)
          SELECT md5('hb' || n || ':' || k)::uuid, at + make_interval(hours => n), at + make_interval(hours => n),
            ${w}, ${ver("t", "v")}, n, (CASE WHEN n = 1 THEN 'start' ELSE 'stop' END)::workspace_transition,
            ${human("k")}, md5('hj' || n || ':' || k)::uuid
          FROM (${people}) AS s, generate_series(1, 2) AS n`,
      },
    );
  }
  return result;
}

function assertSpec(spec: FleetSpec): void {
  for (const key of [
    "templates",
    "versionsPerTemplate",
    "presetsPerVersion",
    "desiredInstances",
    "runningPerActivePreset",
    "historicalBuilds",
  ] as const) {
    const n = spec[key];
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new Error(`fleet ${spec.name}: ${key} must be a non-negative integer (got ${n})`);
    }
  }
  if (spec.templates < 1 || spec.versionsPerTemplate < 1 || spec.presetsPerVersion < 1) {
    throw new Error(`fleet ${spec.name}: needs at least one template, version and preset`);
  }
  // With one version every historical failure would land on an active preset and trip the hard limit.
  if (spec.historicalBuilds > 0 && spec.versionsPerTemplate < 2) {
    throw new Error(
      `fleet ${spec.name}: historical builds need at least two versions per template`,
    );
  }
}

export interface GenerateOptions {
  /** The time the fleet's ages are relative to (the cycle's injected clock). */
  readonly now: Date;
  readonly onStep?: (label: string, ms: number) => void;
}

/**
 * Fills a freshly migrated, empty database with the fleet, then VACUUM ANALYZEs it so the planner
 * has statistics and index-only scans see an all-visible map, as on a long-running deployment.
 * Steps run through the simple protocol (some hold two statements), so "now" is inlined as a literal.
 */
export async function generateFleet(
  client: ClientBase,
  spec: FleetSpec,
  options: GenerateOptions,
): Promise<void> {
  assertSpec(spec);
  const nowLiteral = `'${options.now.toISOString()}'::timestamptz`;
  await client.query("BEGIN");
  try {
    for (const step of steps(spec)) {
      const started = performance.now();
      await client.query(step.sql.replaceAll("$1::timestamptz", nowLiteral));
      options.onStep?.(step.label, performance.now() - started);
    }
    // The change-tracking triggers marked every row the generation wrote (issue #16). A fleet in
    // steady state holds a handful of marks (each cycle consumes them): keep one NULL mark (the
    // next cycle is a full resync), so that the statistics VACUUM ANALYZE takes below describe a
    // small table, as autovacuum's would on a running deployment. TRUNCATE, not DELETE: the NULL
    // mark would land on the last of the deleted marks' pages, VACUUM could not give those back,
    // and every cycle's scan of the marks would read them all (37 ms of an XL no-op cycle).
    await client.query("TRUNCATE prebuild_dirty_presets, prebuild_dirty_rows");
    await client.query("INSERT INTO prebuild_dirty_presets (preset_id) VALUES (NULL)");
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK");
    throw error;
  }
  const started = performance.now();
  await client.query("VACUUM (ANALYZE)");
  options.onStep?.("vacuum analyze", performance.now() - started);
}

/** Counts the rows `expectedCounts` predicts, from the database. */
export async function countFleet(client: ClientBase): Promise<FleetCounts> {
  const { rows } = await client.query<Record<keyof FleetCounts, number>>(`
    SELECT
      (SELECT count(*) FROM templates)::int AS "templates",
      (SELECT count(*) FROM template_versions)::int AS "templateVersions",
      (SELECT count(*) FROM template_version_presets)::int AS "presets",
      (SELECT count(*) FROM template_version_presets p JOIN templates t ON t.active_version_id = p.template_version_id)::int AS "activePresets",
      (SELECT count(*) FROM template_version_preset_parameters)::int AS "presetParameters",
      (SELECT count(*) FROM template_version_preset_prebuild_schedules)::int AS "schedules",
      (SELECT count(*) FROM workspace_prebuilds wp JOIN workspace_latest_builds lb ON lb.workspace_id = wp.id
        WHERE lb.transition = 'start' AND lb.job_status = 'succeeded')::int AS "runningPrebuilds",
      (SELECT count(*) FROM workspaces)::int AS "workspaces",
      (SELECT count(*) FROM workspace_builds)::int AS "workspaceBuilds",
      (SELECT count(*) FROM workspace_builds wb JOIN workspaces w ON w.id = wb.workspace_id
        WHERE w.deleted OR w.owner_id <> '${PREBUILDS_SYSTEM_USER_ID}' OR wb.transition <> 'start'
          OR wb.job_id IN (SELECT id FROM provisioner_jobs WHERE job_status = 'failed'))::int AS "historicalBuilds",
      (SELECT count(*) FROM provisioner_jobs)::int AS "provisionerJobs",
      (SELECT count(*) FROM workspace_build_parameters)::int AS "buildParameters",
      (SELECT count(*) FROM workspace_agents WHERE lifecycle_state = 'ready')::int AS "workspaceAgents"
  `);
  const row = rows[0];
  if (!row) throw new Error("countFleet: no row");
  return row;
}
