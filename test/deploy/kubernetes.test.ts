// deploy/kubernetes/: every manifest parses and validates against the Kubernetes (and Prometheus
// Operator) schemas kubernetes-models ships, and the objects agree with each other and with the
// daemon: port from the config module's default, probe paths the daemon serves (proven against
// the running binary in test/e2e/prometheus.test.ts), the secret-held DATABASE_URL, the alerts.
import { describe, expect, it } from "vitest";
import {
  defaultHttpPort,
  type Manifest,
  only,
  readAlertRules,
  readManifests,
  validateManifest,
} from "./manifests.ts";

const manifests = readManifests();
const deployment = only(manifests, "Deployment", "prebuildsd");
const container = deployment.spec.template.spec.containers[0];
const namedPort = (name: string): number =>
  container.ports.find((p: { name: string }) => p.name === name)?.containerPort;

describe("deploy/kubernetes", () => {
  it("holds the objects an operator needs", () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual([
      "Deployment",
      "Job",
      "PodDisruptionBudget",
      "PrometheusRule",
      "Service",
      "ServiceAccount",
      "ServiceMonitor",
    ]);
  });

  it.each(manifests.map((m) => [`${m.file}: ${m.kind} ${m.metadata.name}`, m] as const))(
    "%s validates against its schema",
    async (_, manifest: Manifest) => {
      await validateManifest(manifest);
    },
  );

  it("rejects what the schemas forbid (the check is not a no-op)", async () => {
    const broken = structuredClone(deployment) as Manifest;
    broken.spec.template.spec.containers[0].ports[0].containerPort = "2112";
    await expect(validateManifest(broken)).rejects.toThrow(/containerPort must be integer/);
    await expect(validateManifest({ ...deployment, kind: "Deploymnet" })).rejects.toThrow(
      /no Kubernetes model/,
    );
  });

  it("runs two replicas of `prebuildsd run` on the daemon's default port, as a non-root user", () => {
    expect(deployment.spec.replicas).toBe(2);
    expect(container.args).toEqual(["run"]);
    expect(namedPort("http")).toBe(defaultHttpPort());
    expect(deployment.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(deployment.spec.template.spec.securityContext.runAsUser).toBeGreaterThan(0);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
  });

  it("probes liveness on /healthz and readiness on /readyz, on the daemon's port", () => {
    expect(container.livenessProbe.httpGet.path).toBe("/healthz");
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      const port = probe.httpGet.port;
      expect(typeof port === "string" ? namedPort(port) : port).toBe(defaultHttpPort());
    }
  });

  it("sets resource requests and a memory limit", () => {
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
  });

  it("takes DATABASE_URL from a Secret: the runtime role for the daemon, the owner for migrations", () => {
    const databaseUrl = (c: Manifest) =>
      c.env.find((e: { name: string }) => e.name === "DATABASE_URL").valueFrom.secretKeyRef;
    expect(databaseUrl(container)).toEqual({ name: "prebuildsd-database", key: "runtime-url" });
    const job = only(manifests, "Job");
    const migrate = job.spec.template.spec.containers[0];
    expect(migrate.args).toEqual(["migrate"]);
    expect(migrate.image).toBe(container.image);
    expect(databaseUrl(migrate)).toEqual({ name: "prebuildsd-database", key: "owner-url" });
  });

  it("exposes the port through the Service the ServiceMonitor scrapes at /metrics", () => {
    const service = only(manifests, "Service");
    const monitor = only(manifests, "ServiceMonitor");
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    const port = service.spec.ports.find((p: { name: string }) => p.name === "http");
    expect(namedPort(port.targetPort)).toBe(defaultHttpPort());
    expect(monitor.spec.selector.matchLabels).toEqual(service.metadata.labels);
    expect(monitor.spec.endpoints).toEqual([
      expect.objectContaining({ port: "http", path: "/metrics" }),
    ]);
  });

  it("ships exactly deploy/prometheus/alerts.yml as the PrometheusRule", () => {
    expect(only(manifests, "PrometheusRule").spec.groups).toEqual(readAlertRules().groups);
  });
});
