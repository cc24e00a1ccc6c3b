// Provisioner tags as the reference matches them (Coder's provisionersdk.MutateTags and the
// provisioner_tagset_contains SQL function; migration 0041 holds the SQL twin the queue uses).

import { parseTagList } from "../config/tagList.ts";

export type ProvisionerTags = Readonly<Record<string, string>>;

/** The tags of a provisioner (or job) nobody tagged. */
export const UNTAGGED: ProvisionerTags = { scope: "organization", owner: "" };

/**
 * MutateTags: no `scope` means organization scope; an organization scope, or an unknown one, gets
 * an empty `owner` (and an unknown scope becomes organization); a `user` scope keeps its owner
 * (`ownerId` when the tags name none).
 */
export function normalizeTags(tags: ProvisionerTags, ownerId = ""): ProvisionerTags {
  if (tags.scope === "user") return { ...tags, owner: tags.owner || ownerId };
  return { ...tags, scope: "organization", owner: "" };
}

/**
 * Whether a provisioner with `provisionerTags` may run a job with `jobTags`: an untagged job only
 * on an untagged provisioner (exact match), any other job on a provisioner that has every one of
 * the job's tags with the same value. Both sides are normalized first.
 */
export function tagsSatisfy(provisionerTags: ProvisionerTags, jobTags: ProvisionerTags): boolean {
  const job = normalizeTags(jobTags);
  const provisioner = normalizeTags(provisionerTags);
  if (sameTags(job, UNTAGGED)) return sameTags(job, provisioner);
  return Object.entries(job).every(([k, v]) => provisioner[k] === v);
}

function sameTags(a: ProvisionerTags, b: ProvisionerTags): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] === a[k]);
}

/** Parses `key=value,key=value` (PREBUILDS_PROVISIONER_TAGS' syntax); null when malformed. */
export function parseTags(raw: string): ProvisionerTags | null {
  return parseTagList(raw);
}
