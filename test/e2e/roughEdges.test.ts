// What a new operator ran into (issue #14), each as a kind, against the built binary: output that
// outgrows a pipe, readers that go away, JSON that says what the table says, errors that name the
// setting to fix, times without an offset, colour codes off a terminal, one vocabulary for a
// cycle's deletes.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/db/embeddedPostgres.ts";
import { type DemoWorld, seedDemo } from "../../src/demo/seedDemo.ts";
import { projectRoot } from "../../src/projectRoot.ts";
import { seedPreset, seedTemplate } from "../fixtures/seed.ts";
import { databaseUrl } from "../harness/databaseUrl.ts";
import { emptyDatabase, freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";
import { BIN, cli } from "./cli.ts";

const NODE = join(projectRoot, "node_modules", ".bin", "node");

let db: TestDatabase;
let env: Record<string, string>;

/** The binary's stdout through a shell pipe into `consumer`; PIPESTATUS says how it exited. */
function piped(
  args: readonly string[],
  consumer: string,
  extraEnv: Record<string, string> = {},
): Promise<{ out: string; err: string; status: number }> {
  const quoted = args.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  const script = `"$NODE" "$BIN" ${quoted} 2>"$ERR_FILE" | ${consumer}; echo "status=\${PIPESTATUS[0]}" >&2; cat "$ERR_FILE" >&2`;
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", script], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PREBUILDS_LOG_FORMAT: "json",
        NODE,
        BIN,
        ERR_FILE: `/tmp/prebuildsd-e2e-${randomBytes(4).toString("hex")}.err`,
        ...extraEnv,
      },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.on("error", reject);
    child.on("close", () => {
      const status = Number(/status=(\d+)/.exec(err)?.[1] ?? "-1");
      resolve({ out, err: err.replace(/status=\d+\n/, ""), status });
    });
  });
}

beforeAll(async () => {
  db = await freshDatabase();
  env = { DATABASE_URL: db.url, PREBUILDS_LOG_LEVEL: "warn" };
  // 500 presets with long names: the plan's JSON is several pipe buffers (64 KiB) long.
  const tpl = await seedTemplate(db.pool, { name: "big" });
  await db.pool.query(
    `INSERT INTO template_version_presets (template_version_id, name, desired_instances)
     SELECT $1, 'preset-' || lpad(g::text, 4, '0') || '-' || repeat('n', 200), 1
     FROM generate_series(1, 500) g`,
    [tpl.activeVersionId],
  );
});

afterAll(async () => {
  await db?.drop();
});

describe("output through a pipe", () => {
  it("plan --json arrives whole, however many pipe buffers it fills", async () => {
    const { out, err, status } = await piped(["plan", "--json"], "cat", env);
    expect(status).toBe(0);
    expect(err).toBe("");
    expect(out.length).toBeGreaterThan(4 * 65_536);
    const plan = JSON.parse(out) as { presets: unknown[] };
    expect(plan.presets).toHaveLength(500);
  });

  it("a reader that stops early (plan | head) is not a crash", async () => {
    const { out, err, status } = await piped(["plan"], "head -c 100", env);
    expect(out).toHaveLength(100);
    expect(status).toBe(0);
    expect(err).not.toMatch(/EPIPE|Error|at /);
  });
});

describe("plan and reconcile output", () => {
  let scenario: TestDatabase;
  let world: DemoWorld;
  let scenarioEnv: Record<string, string>;

  beforeAll(async () => {
    scenario = await freshDatabase();
    world = await seedDemo(scenario.pool);
    scenarioEnv = { DATABASE_URL: scenario.url, PREBUILDS_LOG_LEVEL: "warn" };
  });

  afterAll(async () => {
    await scenario?.drop();
  });

  it("plan --json carries the names, the warnings and the creates validation will refuse", async () => {
    const tpl = await seedTemplate(scenario.pool, { name: "needs-region" });
    await scenario.pool.query(
      "INSERT INTO template_version_parameters (template_version_id, name, required) VALUES ($1, 'region', true), ($1, 'zone', true)",
      [tpl.activeVersionId],
    );
    await seedPreset(scenario.pool, {
      versionId: tpl.activeVersionId,
      name: "eu",
      desiredInstances: 2,
      parameters: { zone: "a" },
    });
    // A preset with hostile data: the planner clamps it and warns.
    await seedPreset(scenario.pool, {
      versionId: tpl.activeVersionId,
      name: "negative-ttl",
      desiredInstances: 0,
      invalidateAfterSecs: -5,
      parameters: { region: "x", zone: "y" },
    });
    const table = await cli(["plan"], scenarioEnv);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(
      '! the create will fail validation: required parameter(s) "region" have no value in the preset',
    );
    const json = JSON.parse((await cli(["plan", "--json"], scenarioEnv)).stdout) as {
      at: string;
      paused: boolean;
      presets: Record<string, unknown>[];
    };
    expect(json.paused).toBe(false);
    expect(Number.isNaN(Date.parse(json.at))).toBe(false);
    const eu = json.presets.find((p) => p.presetName === "eu");
    expect(eu).toMatchObject({
      templateName: "needs-region",
      templateVersionName: "v1",
      organizationName: expect.stringMatching(/^org-/),
      missingParameters: ["region"],
      warnings: [expect.stringContaining("the create will fail validation")],
      actions: [expect.objectContaining({ type: "create", count: 2 })],
    });
    const small = json.presets.find((p) => p.presetName === "small" && p.active === true);
    expect(small).toMatchObject({
      organizationName: world.organizationName,
      missingParameters: [],
      warnings: [],
    });
    // Every warning the table shows is in the JSON.
    const tableWarnings = table.stdout
      .split("\n")
      .filter((l) => l.startsWith("    ! "))
      .map((l) => l.slice(6));
    const jsonWarnings = json.presets.flatMap((p) => p.warnings as string[]);
    expect(tableWarnings.length).toBeGreaterThanOrEqual(2);
    expect(jsonWarnings.sort()).toEqual(tableWarnings.sort());
    // docs/operations.md gives the shape as it is: the top-level keys in order, every preset field.
    const operations = readFileSync(join(projectRoot, "docs", "operations.md"), "utf8");
    const documented = /^- `plan --json` prints `(\{.*?\})`([\s\S]*?)(?=^- )/m.exec(operations);
    expect(documented).not.toBeNull();
    const [, shape = "", section = ""] = documented ?? [];
    expect(Object.keys(json)).toEqual([...shape.matchAll(/"(\w+)"/g)].map((m) => m[1]));
    for (const key of Object.keys(eu ?? {})) expect(section).toContain(`\`${key}\``);
  });

  it("reconcile --once --json is accepted, and reconcile and status count deletes alike", async () => {
    const first = await cli(["reconcile", "--once", "--json"], scenarioEnv);
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ outcome: "completed", prebuildsCreated: 7 });
    // Promote while the old version's jobs are all pending: the next cycle cancels them and
    // orphan-deletes their workspaces.
    expect((await cli(["promote", world.templateId, "v2"], scenarioEnv)).code).toBe(0);
    const text = await cli(["reconcile", "--once"], scenarioEnv);
    const line = /\d+ prebuild\(s\) created, (\d+) deleted \((\d+) of them orphaned/.exec(
      text.stdout,
    );
    expect(line?.[1]).toBe("7");
    expect(line?.[2]).toBe("7");
    const status = await cli(["status"], scenarioEnv);
    expect(status.stdout).toContain("5 prebuild(s) created, 7 deleted, 7 job(s) cancelled");
    const statusJson = JSON.parse((await cli(["status", "--json"], scenarioEnv)).stdout);
    expect(statusJson.lastCycle).toMatchObject({ prebuildsDeleted: 7, jobsCanceled: 7 });
    const again = JSON.parse((await cli(["reconcile", "--once", "--json"], scenarioEnv)).stdout);
    expect(Object.keys(again)).toEqual(
      expect.arrayContaining(["prebuildsDeleted", "orphansDeleted", "jobsCanceled", "actions"]),
    );
  });
});

describe("errors that name the fix", () => {
  it("--at without an offset is refused instead of read in the machine's time zone", async () => {
    for (const at of ["2025-06-01T09:30", "2025-06-01T09:30:00", "2025-06-01"]) {
      const result = await cli(["plan", "--at", at], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `prebuildsd: --at needs a time zone offset (Z for UTC, or +02:00), like "2025-06-01T09:30:00Z" or "2025-06-01T11:30:00+02:00" (got "${at}")\n`,
      );
    }
    const ok = JSON.parse(
      (await cli(["plan", "--json", "--at", "2025-06-01T11:30:00+02:00"], env)).stdout,
    );
    expect(ok.at).toBe("2025-06-01T09:30:00.000Z");
  });

  it("a one-shot command on an unmigrated database says to run prebuildsd migrate", async () => {
    const empty = await emptyDatabase();
    try {
      for (const command of [["status"], ["reconcile", "--once"]]) {
        const result = await cli(command, { DATABASE_URL: empty.url });
        expect(result.code).toBe(1);
        expect(result.stderr.trim().split("\n")).toHaveLength(1);
        expect(result.stderr).toMatch(
          /^prebuildsd: the database schema is behind this prebuildsd \(\d+ migration\(s\) pending, first 0001_schema\): run `prebuildsd migrate` as the schema owner first\n$/,
        );
      }
    } finally {
      await empty.drop();
    }
  });

  it("migrate as the runtime role is one line naming the owner's connection string", async () => {
    const role = `prebuildsd_e2e_${randomBytes(4).toString("hex")}`;
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    const empty = await emptyDatabase();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw' IN ROLE prebuildsd_runtime`);
      const asRuntime = (url: string) => {
        const u = new URL(url);
        u.username = role;
        u.password = "pw";
        return u.toString();
      };
      // A current schema: nothing to do, and nothing asked of the owner.
      const current = await cli(["migrate"], { DATABASE_URL: asRuntime(db.url) });
      expect(current).toMatchObject({
        code: 0,
        stdout: "the schema is current: no migration to apply\n",
      });
      const pending = await cli(["migrate"], { DATABASE_URL: asRuntime(empty.url) });
      expect(pending.code).toBe(1);
      expect(pending.stderr).toMatch(
        /^prebuildsd: cannot migrate: permission denied for schema public\. The role in DATABASE_URL may not change the schema .*run `prebuildsd migrate` with the schema owner's connection string\n$/,
      );
    } finally {
      await empty.drop();
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });

  it("a connection that fails names the part of DATABASE_URL to check", async () => {
    const url = new URL(db.url);
    const port = await freePort();
    const cases: [string, RegExp][] = [
      [
        `postgres://u@127.0.0.1:${port}/x`,
        /nothing accepts connections there \(connect ECONNREFUSED .*\): check the host and port in DATABASE_URL/,
      ],
      [
        "postgres://u@no-such-host.invalid:5432/x",
        /unknown host \(getaddrinfo (ENOTFOUND|EAI_AGAIN) no-such-host\.invalid\): check the host name in DATABASE_URL/,
      ],
      [
        // With password auth (the embedded harness) the server does not say whether the role exists.
        `postgres://no_such_role_${randomBytes(3).toString("hex")}:${url.password || "x"}@${url.host}/postgres`,
        /(role "no_such_role_\w+" does not exist: check the user name|password authentication failed for user "no_such_role_\w+": check the password) in DATABASE_URL/,
      ],
      [
        databaseUrl(db.url, "no_such_database"),
        /database "no_such_database" does not exist: check the database name \(the path after the port\) in DATABASE_URL/,
      ],
    ];
    for (const [databaseUrl, message] of cases) {
      const result = await cli(["status"], { DATABASE_URL: databaseUrl });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(/^prebuildsd: cannot connect to the database: /);
      expect(result.stderr).toMatch(message);
    }
  });

  it("a server that accepts and then hangs up is named, with what to check", async () => {
    // Not PostgreSQL: a listener that reads the startup message and closes (pg: "Connection
    // terminated unexpectedly"), and one that resets at once (ECONNRESET).
    const hangUps: [string, (socket: Socket) => void, RegExp][] = [
      [
        "closes",
        (socket) => socket.once("data", () => socket.destroy()),
        /\(Connection terminated unexpectedly\)/,
      ],
      ["resets", (socket) => socket.resetAndDestroy(), /\(\w* ?ECONNRESET[^)]*\)/],
    ];
    for (const [kind, hangUp, detail] of hangUps) {
      const server: Server = createServer(hangUp);
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as { port: number };
      try {
        const result = await cli(["status"], { DATABASE_URL: `postgres://u@127.0.0.1:${port}/x` });
        expect(result.code, kind).toBe(1);
        expect(result.stderr.trim().split("\n"), kind).toHaveLength(1);
        expect(result.stderr, kind).toContain(
          `prebuildsd: cannot connect to the database: the server at 127.0.0.1:${port} closed the connection unexpectedly (`,
        );
        expect(result.stderr, kind).toMatch(detail);
        expect(result.stderr, kind).toContain(
          "): check the host and port in DATABASE_URL (or --database-url) point at a PostgreSQL server, not another service; then sslmode, and any proxy or load balancer in between\n",
        );
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    }
  });

  it("sslmode=require prints no driver warning, only what happened", async () => {
    const url = new URL(db.url);
    url.searchParams.set("sslmode", "require");
    const result = await cli(["status"], { DATABASE_URL: url.toString() });
    expect(result.stderr).not.toContain("SECURITY WARNING");
    // The test server may or may not speak TLS: either the command works, or one line says why.
    if (result.code === 0) expect(result.stderr).toBe("");
    else expect(result.stderr).toMatch(/^prebuildsd: cannot connect to the database: .*sslmode/);
  });
});

describe("logs", () => {
  it("--log-format pretty writes no colour codes when stderr is not a terminal", async () => {
    const plan = await cli(["reconcile", "--once", "--log-format", "pretty"], {
      DATABASE_URL: db.url,
    });
    expect(plan.stderr).toMatch(/INFO/);
    expect(plan.stderr).not.toContain("\u001b[");
  });
});
