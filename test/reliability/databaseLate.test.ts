// `run` started before its database answers (issue #14: a sidecar beside a database still starting
// exited 1 and crash-looped): it serves /readyz with 503 and the reason, retries with backoff, and
// starts once the database answers (also behind a proxy that hangs up until then); a SIGTERM while
// it waits stops it cleanly.
import { createConnection, createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/db/embeddedPostgres.ts";
import { seedDemo } from "../../src/demo/seedDemo.ts";
import { type Daemon, startDaemon } from "../e2e/cli.ts";
import { freshDatabase, type TestDatabase } from "../harness/freshDatabase.ts";

let db: TestDatabase;
const daemons: Daemon[] = [];
const servers: Server[] = [];

/** A TCP proxy on `port` to the test database: the database "comes up" when it starts listening. */
function startProxy(port: number): Promise<void> {
  const target = new URL(db.url);
  const server = createServer((client) => {
    const upstream = createConnection(Number(target.port || 5432), target.hostname);
    client.pipe(upstream).pipe(client);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve()));
}

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: response.status, body: await response.text() };
}

function run(databasePort: number, httpPort: number): Daemon {
  const url = new URL(db.url);
  url.host = `127.0.0.1:${databasePort}`;
  const daemon = startDaemon(["run", "--http-address", `127.0.0.1:${httpPort}`], {
    DATABASE_URL: url.toString(),
    PREBUILDS_RECONCILIATION_INTERVAL: "1h",
  });
  daemons.push(daemon);
  return daemon;
}

beforeAll(async () => {
  db = await freshDatabase();
  await seedDemo(db.pool);
});

afterAll(async () => {
  for (const daemon of daemons) if (daemon.child.exitCode === null) daemon.child.kill("SIGKILL");
  for (const server of servers) server.close();
  await db?.drop();
});

describe("run before the database answers", () => {
  it("answers /readyz 503 while it waits, then starts when the database comes up", async () => {
    const [databasePort, httpPort] = [await freePort(), await freePort()];
    const daemon = run(databasePort, httpPort);
    const waiting = await daemon.waitForLog("waiting for the database", 60_000);
    expect(String(waiting.msg)).toContain(
      "nothing accepts connections there (connect ECONNREFUSED",
    );
    expect(String(waiting.msg)).toContain("check the host and port in DATABASE_URL");
    const ready = await get(httpPort, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.body).toMatch(/^database unreachable: /);
    expect((await get(httpPort, "/healthz")).status).toBe(200);
    expect(daemon.child.exitCode).toBeNull();

    await startProxy(databasePort);
    await daemon.waitForLog("serving /metrics", 90_000);
    await daemon.waitForLog("reconciliation cycle completed", 60_000);
    expect(await get(httpPort, "/readyz")).toEqual({ status: 200, body: "ready\n" });
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 240_000);

  it("waits the same way behind a proxy that accepts and hangs up until its database is up", async () => {
    const [databasePort, httpPort] = [await freePort(), await freePort()];
    const hangingUp = createServer((socket) => socket.once("data", () => socket.destroy()));
    await new Promise<void>((resolve) => hangingUp.listen(databasePort, "127.0.0.1", resolve));
    const daemon = run(databasePort, httpPort);
    const waiting = await daemon.waitForLog("waiting for the database", 60_000);
    expect(String(waiting.msg)).toContain(
      `the server at 127.0.0.1:${databasePort} closed the connection unexpectedly`,
    );
    expect((await get(httpPort, "/readyz")).status).toBe(503);
    expect(daemon.child.exitCode).toBeNull();

    await new Promise((resolve) => hangingUp.close(resolve));
    await startProxy(databasePort);
    // The first test's daemon already did the work: this one's cycles have nothing to log at info.
    await daemon.waitForLog("the database answers: starting", 90_000);
    await daemon.waitForLog("serving /metrics", 30_000);
    expect(await get(httpPort, "/readyz")).toEqual({ status: 200, body: "ready\n" });
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
  }, 240_000);

  it("stops cleanly on SIGTERM while it waits", async () => {
    const [databasePort, httpPort] = [await freePort(), await freePort()];
    const daemon = run(databasePort, httpPort);
    await daemon.waitForLog("waiting for the database", 60_000);
    daemon.child.kill("SIGTERM");
    expect(await daemon.exited).toBe(0);
    expect(daemon.output()).not.toContain("overran");
  }, 120_000);
});
