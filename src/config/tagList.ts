// The `key=value,key=value` syntax of PREBUILDS_PROVISIONER_TAGS (and the worker's parseTags).

/**
 * Parses `key=value,key=value`; whitespace around keys and values is ignored, an empty string is
 * no tags. Returns null when an entry has no `=` or an empty key, or a key repeats.
 */
export function parseTagList(raw: string): Readonly<Record<string, string>> | null {
  const tags: Record<string, string> = {};
  if (raw.trim() === "") return tags;
  for (const entry of raw.split(",")) {
    const eq = entry.indexOf("=");
    if (eq < 0) return null;
    const key = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    if (key === "" || key in tags) return null;
    tags[key] = value;
  }
  return tags;
}
