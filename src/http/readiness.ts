// /readyz: the database answers and every shipped migration is applied. Checks are shared by
// concurrent requests and reused for a second, so a burst of probes costs one query.
import type pg from "pg";
import { pendingMigrations } from "../db/migrate.ts";
import type { Readiness } from "./server.ts";

const CHECK_TIMEOUT_MS = 2000;
const REUSE_MS = 1000;

async function check(pool: pg.Pool): Promise<Readiness> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Readiness>((resolve) => {
    timer = setTimeout(
      () =>
        resolve({ ready: false, reason: `database did not answer within ${CHECK_TIMEOUT_MS}ms` }),
      CHECK_TIMEOUT_MS,
    );
  });
  const probe = (async (): Promise<Readiness> => {
    const client = await pool.connect();
    try {
      const pending = await pendingMigrations(client);
      if (pending.length > 0) {
        return {
          ready: false,
          reason: `migrations pending (${pending.join(", ")}): run \`prebuildsd migrate\``,
        };
      }
      return { ready: true, reason: "" };
    } finally {
      client.release();
    }
  })().catch(
    (error: unknown): Readiness => ({
      ready: false,
      reason: `database unreachable: ${error instanceof Error ? error.message : String(error)}`,
    }),
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function readinessCheck(pool: pg.Pool): () => Promise<Readiness> {
  let last: { at: number; result: Promise<Readiness> } | null = null;
  return () => {
    const now = Date.now();
    if (last === null || now - last.at > REUSE_MS) last = { at: now, result: check(pool) };
    return last.result;
  };
}
