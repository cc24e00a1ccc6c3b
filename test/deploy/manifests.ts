// Reads the deployment files under deploy/ for the tests that check them: every Kubernetes
// manifest parsed and matched to the model class kubernetes-models (or its prometheus-operator
// package) ships for its apiVersion and kind, and the settings they must agree with.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { settings } from "../../src/config/settings.ts";
import { projectRoot } from "../../src/projectRoot.ts";

export const DEPLOY_DIR = join(projectRoot, "deploy");
export const KUBERNETES_DIR = join(DEPLOY_DIR, "kubernetes");

/** One Kubernetes object as written in a manifest (plain YAML data). */
export interface Manifest {
  readonly file: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: manifests are checked against schemas, not types
  readonly [field: string]: any;
}

/** Every document of every *.yaml file in deploy/kubernetes; throws on a YAML error, naming the file. */
export function readManifests(dir = KUBERNETES_DIR): Manifest[] {
  const manifests: Manifest[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const value = doc.toJS() as Manifest | null;
      if (value !== null) manifests.push({ ...value, file });
    }
  }
  return manifests;
}

/** The module kubernetes-models ships the models of one apiVersion in. */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  }
  return `kubernetes-models/${apiVersion}`;
}

interface Model {
  validate(): void;
}

/**
 * Validates a manifest against the JSON schema of its apiVersion and kind (throws the schema
 * error). Throws too when no model exists for it: a misspelt kind or an unknown apiVersion.
 */
export async function validateManifest(manifest: Manifest): Promise<void> {
  const { file, ...object } = manifest;
  let module: Record<string, unknown>;
  try {
    module = (await import(modelModule(manifest.apiVersion))) as Record<string, unknown>;
  } catch {
    throw new Error(`${file}: no Kubernetes model for apiVersion ${manifest.apiVersion}`);
  }
  const Kind = module[manifest.kind] as (new (data: unknown) => Model) | undefined;
  if (typeof Kind !== "function") {
    throw new Error(`${file}: no Kubernetes model for ${manifest.apiVersion} ${manifest.kind}`);
  }
  new Kind(object).validate();
}

/** Exactly one object of `kind` (and `name`, when given). */
export function only(manifests: readonly Manifest[], kind: string, name?: string): Manifest {
  const found = manifests.filter(
    (m) => m.kind === kind && (name === undefined || m.metadata.name === name),
  );
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ""}, found ${found.length}`);
  return found[0] as Manifest;
}

/** The port the daemon listens on by default, from the config module's own default. */
export function defaultHttpPort(): number {
  const setting = settings.httpAddress;
  const parsed = setting.parse(setting.defaultText ?? "");
  if (!parsed.ok) throw new Error(`the default ${setting.env} does not parse`);
  return parsed.value.port;
}

/** deploy/prometheus/alerts.yml, parsed. */
export function readAlertRules(): { groups: { name: string; rules: Record<string, unknown>[] }[] } {
  return parse(readFileSync(join(DEPLOY_DIR, "prometheus", "alerts.yml"), "utf8"));
}
