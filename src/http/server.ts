// The operator's HTTP port: / (the status page), /metrics (Prometheus text), /healthz (the process
// answers), /readyz (database reachable and migrations current). Nothing else is served; request
// bodies are ignored.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ListenAddress } from "../config/settings.ts";
import { STATUS_PAGE_CSP } from "./statusPage.ts";

export interface Readiness {
  readonly ready: boolean;
  /** Why not ready, for the operator reading the response body. */
  readonly reason: string;
}

export interface HttpHandlers {
  readonly metrics: () => Promise<{ readonly contentType: string; readonly body: string }>;
  readonly readiness: () => Promise<Readiness>;
  /** /healthz: absent, the process answering is enough; else 503 with the reason when unhealthy
   *  (the daemon's embedded server died: the supervisor should restart it). */
  readonly health?: () => Readiness;
  /** The status page's HTML (`GET /`); absent: `/` is a 404 like any unknown path. */
  readonly statusPage?: () => Promise<string>;
}

export interface HttpServer {
  /** The bound address, e.g. "127.0.0.1:2112" (the real port when 0 was asked for). */
  readonly address: string;
  readonly port: number;
  readonly close: () => Promise<void>;
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "content-type": contentType,
    "content-length": Buffer.byteLength(body),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(res.req.method === "HEAD" ? undefined : body);
}

const TEXT = "text/plain; charset=utf-8";

async function route(handlers: HttpHandlers, req: IncomingMessage, res: ServerResponse) {
  // Drain and ignore any body; nothing here reads one.
  req.resume();
  const path = (req.url ?? "/").split("?")[0];
  const statusPage = handlers.statusPage;
  const known =
    path === "/metrics" ||
    path === "/healthz" ||
    path === "/readyz" ||
    (path === "/" && statusPage);
  if (!known) {
    send(
      res,
      404,
      TEXT,
      `not found: try ${statusPage ? "/ (the status page), " : ""}/metrics, /healthz or /readyz\n`,
    );
    return;
  }
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.setHeader("allow", "GET, HEAD");
    send(res, 405, TEXT, "method not allowed: use GET\n");
    return;
  }
  if (path === "/" && statusPage) {
    send(res, 200, "text/html; charset=utf-8", await statusPage(), {
      "content-security-policy": STATUS_PAGE_CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    });
  } else if (path === "/healthz") {
    const health = handlers.health?.() ?? { ready: true, reason: "" };
    send(res, health.ready ? 200 : 503, TEXT, `${health.ready ? "ok" : health.reason}\n`);
  } else if (path === "/readyz") {
    const readiness = await handlers.readiness();
    send(
      res,
      readiness.ready ? 200 : 503,
      TEXT,
      `${readiness.ready ? "ready" : readiness.reason}\n`,
    );
  } else {
    const { contentType, body } = await handlers.metrics();
    send(res, 200, contentType, body);
  }
}

export async function startHttpServer(
  listen: ListenAddress,
  handlers: HttpHandlers,
  onError: (error: unknown) => void,
): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    route(handlers, req, res).catch((error: unknown) => {
      onError(error);
      if (!res.headersSent) send(res, 500, TEXT, "internal error (see the daemon's log)\n");
      else res.destroy();
    });
  });
  // Slow or idle clients must not keep shutdown waiting or hold sockets forever.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: listen.host, port: listen.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", onError);
  const bound = server.address() as AddressInfo;
  const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
  return {
    address: `${host}:${bound.port}`,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
