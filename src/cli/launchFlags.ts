// The Node.js flags an installed `prebuildsd` runs with: its entry point's shebang line passes them
// (`#!/usr/bin/env -S node …`), because V8 reads heap sizes only when it starts.

/**
 * V8 flags for a process whose full resync holds every live prebuild at once (issue #16's RSS
 * goal, measured by `npm run bench` in a reconciler-only process, docs/benchmarks.md):
 * - `--max-semi-space-size=4`: a 4 MB young-generation semi-space (Node 24's default grows it to
 *   64 MB). With the default the short-lived rows pile up before a scavenge; with 4 MB they die
 *   young: at fleet L 314 → 162 MB RSS, at XL 509 → 256 MB, cycle times unchanged.
 * - `--heap-growing-percent=50`: after a full garbage collection V8 lets the old generation grow
 *   to 1.5× what survived it, instead of up to 4× when collecting looks cheap. A full resync's
 *   rows survive the scavenges while the read runs and die with the cycle, so across back-to-back
 *   full resyncs at XL the default let the heap reach 420–470 MB of mostly garbage (RSS 530–575
 *   MB, 10–25 cycles); with 1.5× RSS stays at 255–285 MB, the same wall time, 16–30% more CPU in
 *   those cycles (more frequent collections; incremental cycles allocate little).
 *   Not allowed in NODE_OPTIONS (Node accepts only a few V8 flags there): pass it on the command
 *   line. A Node.js release that dropped it would refuse to start; test/e2e/launchFlags.test.ts
 *   runs the binary with these flags.
 * src/cli/main.ts's first line, package.json's scripts that run it (`npm start`, `npm run
 * prebuildsd`, `npm run migrate`) and `npm run bench` must name exactly these (a test checks all).
 */
export const LAUNCH_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=4",
  "--heap-growing-percent=50",
];

/**
 * The launch flags, by name, that `execArgv` (the running process's `process.execArgv`) lacks:
 * `prebuildsd run` warns when started as `node dist/src/cli/main.js` without them (operator
 * review). A flag given with another value counts as given: the operator chose it.
 */
export function missingLaunchFlags(execArgv: readonly string[]): string[] {
  return LAUNCH_NODE_FLAGS.filter((flag) => {
    const name = flag.split("=", 1)[0] ?? flag;
    return !execArgv.some((arg) => arg === name || arg.startsWith(`${name}=`));
  });
}

/** The shebang line src/cli/main.ts (and so the built binary) starts with. */
export function launchShebang(): string {
  return `#!/usr/bin/env -S node ${LAUNCH_NODE_FLAGS.join(" ")}`;
}
