// Shared by the reliability suite: admin statements against the test server, HTTP against a
// running daemon, Prometheus text parsing, polling, and the invariants every fault test checks
// (no half-created prebuild, no pool above its desired size).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import type { Daemon } from "../e2e/cli.ts";
import { databaseUrl } from "../harness/databaseUrl.ts";

export { halfCreatedPrebuilds, metric, type PresetPool, presetPools } from "./invariants.ts";

/** Runs statements as the harness's superuser, on the server's admin database. */
export async function admin(sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: inject("adminUrl") });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end();
  }
}

/** A pool that survives its connections being terminated (the test provokes exactly that). */
export function tolerantPool(url: string, max = 5): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on("error", () => {});
  return pool;
}

export async function get(
  base: string,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; body: string }> {
  const response = await fetch(`${base}${path}`, init);
  return { status: response.status, body: await response.text() };
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(
    `timed out waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ""}`,
  );
}

/** The daemon's listening base URL, from its start-up log line. */
export async function daemonBase(daemon: Daemon): Promise<string> {
  const listening = await daemon.waitForLog("serving /metrics");
  return `http://${String(listening.address)}`;
}

/** Every JSON log line the daemon printed so far. */
export function logLines(daemon: Daemon): Record<string, unknown>[] {
  return daemon
    .output()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Waits for the daemon to exit; SIGKILLs it (and fails) after `timeoutMs`. */
export async function exitWithin(daemon: Daemon, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), timeoutMs);
  });
  const result = await Promise.race([daemon.exited, timeout]);
  clearTimeout(timer);
  if (result === "timeout") {
    daemon.child.kill("SIGKILL");
    throw new Error(`the daemon did not exit within ${timeoutMs}ms:\n${daemon.output()}`);
  }
  return result;
}

export function killIfRunning(daemon: Daemon | undefined): void {
  if (daemon && daemon.child.exitCode === null && daemon.child.signalCode === null) {
    daemon.child.kill("SIGKILL");
  }
}

/** A LOGIN role with a password, member of prebuildsd_runtime, and its connection URL. */
export async function runtimeLoginRole(
  databaseName: string,
): Promise<{ role: string; password: string; url: string; drop: () => Promise<void> }> {
  const role = `prebuildsd_t_login_${randomBytes(5).toString("hex")}`;
  // Characters that must be percent-encoded in a URL, so both spellings are checked for leaks.
  const password = `pw-${randomBytes(8).toString("hex")}!@`;
  await admin(`CREATE ROLE ${role} LOGIN PASSWORD '${password}' IN ROLE prebuildsd_runtime`);
  const url = new URL(databaseUrl(inject("adminUrl"), databaseName));
  url.username = role;
  url.password = password;
  return {
    role,
    password,
    url: url.toString(),
    drop: async () => {
      await admin(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`,
      );
      await admin(`DROP ROLE IF EXISTS ${role}`);
    },
  };
}
