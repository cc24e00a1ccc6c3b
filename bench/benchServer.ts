// The PostgreSQL server the benchmark runs against (DATABASE_URL, else an embedded server) and the
// databases it creates there: one migrated template, cloned into one database per fleet.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "../src/db/embeddedPostgres.ts";
import { migrate } from "../src/db/migrate.ts";

export interface BenchServer {
  /** "DATABASE_URL" or "embedded PostgreSQL". */
  readonly source: string;
  readonly version: string;
  readonly settings: Record<string, string>;
  /** A URL for one database on this server. */
  readonly urlFor: (database: string) => string;
  /** Creates `prebuildsd_bench_<suffix>`, migrated (cloned from a migrated template). */
  readonly createDatabase: (suffix: string) => Promise<BenchDatabase>;
  /** Clones an existing bench database (the source must have no open connections). */
  readonly cloneDatabase: (source: BenchDatabase, suffix: string) => Promise<BenchDatabase>;
  readonly stop: () => Promise<void>;
}

export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
  readonly drop: () => Promise<void>;
}

const PREFIX = "prebuildsd_bench_";

function withDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function adminQuery(adminUrl: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function startBenchServer(log: (line: string) => void): Promise<BenchServer> {
  const fromEnv = process.env.DATABASE_URL;
  let adminUrl: string;
  let source: string;
  let stopServer: () => Promise<void> = async () => {};
  if (fromEnv) {
    adminUrl = fromEnv;
    source = "DATABASE_URL";
  } else {
    const dataDir = await mkdtemp(join(tmpdir(), "prebuildsd-bench-pg-"));
    log(`starting an embedded PostgreSQL in ${dataDir} (set DATABASE_URL to use another server)`);
    const embedded = await startEmbeddedPostgres({ dataDir, persistent: false });
    adminUrl = embedded.url;
    source = "embedded PostgreSQL";
    stopServer = async () => {
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    };
  }

  const info = await adminQuery(
    adminUrl,
    `SELECT version() AS version, current_setting('server_version') AS server_version,
       current_setting('shared_buffers') AS shared_buffers, current_setting('work_mem') AS work_mem,
       current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS synchronous_commit,
       current_setting('max_connections') AS max_connections, current_setting('jit') AS jit,
       pg_jit_available()::text AS jit_available`,
  );
  const { version, ...settings } = info.rows[0] as Record<string, string>;

  // Leftovers of an interrupted run would make CREATE DATABASE fail; they are ours by name.
  const stale = await adminQuery(
    adminUrl,
    `SELECT datname FROM pg_database WHERE datname LIKE '${PREFIX}%'`,
  );
  for (const row of stale.rows as { datname: string }[]) {
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${row.datname} WITH (FORCE)`);
  }

  const templateName = `${PREFIX}template`;
  await adminQuery(adminUrl, `CREATE DATABASE ${templateName}`);
  const migrator = new pg.Client({ connectionString: withDatabase(adminUrl, templateName) });
  await migrator.connect();
  try {
    await migrate(migrator);
  } finally {
    await migrator.end();
  }

  const handle = (name: string): BenchDatabase => ({
    name,
    url: withDatabase(adminUrl, name),
    drop: async () => {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  });

  return {
    source,
    version: String(version),
    settings,
    urlFor: (database) => withDatabase(adminUrl, database),
    createDatabase: async (suffix) => {
      const name = `${PREFIX}${suffix}`;
      await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${templateName}`);
      return handle(name);
    },
    cloneDatabase: async (sourceDb, suffix) => {
      const name = `${PREFIX}${suffix}`;
      await adminQuery(adminUrl, `CREATE DATABASE ${name} TEMPLATE ${sourceDb.name}`);
      return handle(name);
    },
    stop: async () => {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${templateName} WITH (FORCE)`);
      await stopServer();
    },
  };
}
