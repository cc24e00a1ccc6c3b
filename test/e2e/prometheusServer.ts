// A real Prometheus server (the Debian package's binary) for end-to-end tests: its own
// configuration and storage in a temporary directory, listening on a free loopback port.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";

export interface PrometheusServer {
  readonly url: string;
  readonly output: () => string;
  /** Instant query; throws on an error response (e.g. a query Prometheus cannot parse). */
  readonly query: (promql: string) => Promise<PromSample[]>;
  readonly stop: () => Promise<void>;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(),
      );
    });
  });
}

/** Polls `check` every 250 ms until it returns a value other than undefined (or times out). */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; last error: ${String(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Starts `prometheus` scraping `targets` (host:port) every second and evaluating `ruleFiles`
 * every second; resolves once its HTTP API answers ready.
 */
export async function startPrometheus(
  binary: string,
  options: { readonly targets: readonly string[]; readonly ruleFiles: readonly string[] },
): Promise<PrometheusServer> {
  const dir = mkdtempSync(join(tmpdir(), "prebuildsd-prometheus-"));
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    rule_files: options.ruleFiles,
    scrape_configs: [{ job_name: "prebuildsd", static_configs: [{ targets: options.targets }] }],
  };
  writeFileSync(join(dir, "prometheus.yml"), stringify(config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    binary,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout?.on("data", (c: Buffer) => (output += c.toString()));
  child.stderr?.on("data", (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually("Prometheus to be ready", async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited:\n${output}`);
      return (await fetch(`${url}/-/ready`)).ok ? true : undefined;
    });
  } catch (error) {
    await stop();
    throw new Error(`${String(error)}\n${output}`);
  }
  const query = async (promql: string): Promise<PromSample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { result: PromSample[] };
    };
    if (body.status !== "success") throw new Error(`query ${promql} failed: ${body.error}`);
    return body.data?.result ?? [];
  };
  return { url, output: () => output, query, stop };
}
