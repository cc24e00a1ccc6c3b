// Starts (or finds) one real PostgreSQL for the whole run and migrates a template database that
// every test file clones (DESIGN.md §5): TEST_DATABASE_URL, else a testcontainers PostgreSQL when a
// container runtime answers, else an embedded PostgreSQL.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { startEmbeddedPostgres } from "../../src/db/embeddedPostgres.ts";
import { migrate } from "../../src/db/migrate.ts";
import { databaseUrl } from "./databaseUrl.ts";

declare module "vitest" {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    databaseSource: string;
  }
}

interface Server {
  readonly adminUrl: string;
  readonly source: string;
  readonly stop: () => Promise<void>;
}

async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startServer(): Promise<Server> {
  const fromEnv = process.env.TEST_DATABASE_URL;
  if (fromEnv) return { adminUrl: fromEnv, source: "TEST_DATABASE_URL", stop: async () => {} };
  if (await containerRuntimeAvailable()) {
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
    const container = await new PostgreSqlContainer("postgres:17-alpine").start();
    return {
      adminUrl: container.getConnectionUri(),
      source: "a testcontainers PostgreSQL (postgres:17-alpine)",
      stop: async () => {
        await container.stop();
      },
    };
  }
  const dataDir = await mkdtemp(join(tmpdir(), "prebuildsd-test-pg-"));
  const embedded = await startEmbeddedPostgres({ dataDir, persistent: false });
  return {
    adminUrl: embedded.url,
    source: `an embedded PostgreSQL in ${dataDir} (set TEST_DATABASE_URL to use another)`,
    // persistent: false removes the cluster; the directory around it goes too (one per run).
    stop: async () => {
      try {
        await embedded.stop();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await startServer();
  const templateDatabase = `prebuildsd_tpl_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${templateDatabase}`);
  const template = new pg.Client({
    connectionString: databaseUrl(server.adminUrl, templateDatabase),
  });
  await template.connect();
  const version = await template.query<{ server_version: string }>("SHOW server_version");
  const where = new URL(server.adminUrl);
  // Which server the run uses, before any test output (issue #14).
  process.stderr.write(
    `prebuildsd tests: PostgreSQL ${version.rows[0]?.server_version ?? "?"} at ${where.hostname}:${where.port || "5432"}, from ${server.source}\n`,
  );
  await migrate(template);
  await template.end();
  project.provide("adminUrl", server.adminUrl);
  project.provide("templateDatabase", templateDatabase);
  project.provide("databaseSource", server.source);
  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase} WITH (FORCE)`);
    await admin.end();
    await server.stop();
  };
}
