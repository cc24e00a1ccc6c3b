// The Node.js flags an installed `prebuildsd` runs with: its entry point's shebang line passes them
// (`#!/usr/bin/env -S node …`), because V8 reads heap sizes only when it starts.

/**
 * A 4 MB young-generation semi-space (Node 24's default grows it to 64 MB): a full resync decodes
 * every live prebuild's row at once, and with the default the short-lived rows pile up before a
 * scavenge; with 4 MB they die young. Measured by `npm run bench` in a reconciler-only process:
 * at fleet L 314 → 162 MB RSS, at XL 509 → 256 MB, cycle times unchanged (issue #16's RSS goal).
 * src/cli/main.ts's first line and package.json's scripts that run it (`npm start`, `npm run
 * prebuildsd`, `npm run migrate`) must name exactly these (a test checks both).
 */
export const LAUNCH_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=4"];

/** The shebang line src/cli/main.ts (and so the built binary) starts with. */
export function launchShebang(): string {
  return `#!/usr/bin/env -S node ${LAUNCH_NODE_FLAGS.join(" ")}`;
}
