// Import rules for src/ (issue #17; STYLE.md "Four rooms, one direction"). Rooms from the top:
//   cli                  the operator interface (registers every command, the demo's too)
//   demo                 `prebuildsd demo` (never imports cli)
//   daemon               the long-running process: wires the loop, the sampler and http
//   http                 /metrics, /healthz, /readyz and the status page
//   reconciler           one cycle: read, plan, execute, record
//   controls             the operator's writes (pause, scale, reset, rollout, promote, invalidate):
//                        may read through snapshot/, never calls execute/
//   execute, snapshot    the writes and the per-cycle reads (neither imports the other)
//   provisioner          the simulated provisioner (demo, tests, bench), a worker on the runtime
//   worker               the job side a platform imports (prebuildsd/worker)
//   config               settings, read once and validated
//   db, observe          foundations
//   plan                 the ground floor: pure (no I/O, no clock, nothing from src/ outside
//                        plan/), so every room may use its types and vocabulary
// A room imports only rooms below it. `npm run lint` fails on any violation.
const ROOMS = [
  ["cli"],
  ["demo"],
  ["daemon"],
  ["http"],
  ["reconciler"],
  ["controls"],
  ["execute", "snapshot"],
  ["provisioner"],
  ["worker"],
  ["config"],
  ["db", "observe"],
  ["plan"],
];

const roomOf = (name) => ROOMS.findIndex((rooms) => rooms.includes(name));
const above = (level) => ROOMS.slice(0, level).flat();
const sameLevel = (name) => ROOMS[roomOf(name)].filter((other) => other !== name);

const upward = ROOMS.flat().flatMap((room) => {
  const level = roomOf(room);
  const forbidden = [...above(level), ...sameLevel(room)];
  if (forbidden.length === 0) return [];
  return [
    {
      name: `${room}-imports-down`,
      comment: `src/${room} may only import rooms below it (${forbidden.join(", ")} are not)`,
      severity: "error",
      from: { path: `^src/${room}/` },
      to: { path: `^src/(${forbidden.join("|")})/` },
    },
  ];
});

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "import cycles make the layers meaningless",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
    {
      name: "plan-is-pure",
      comment: "the planner imports nothing that does I/O (STYLE.md §2): only plan/, cron-parser, luxon",
      severity: "error",
      from: { path: "^src/plan/" },
      to: { pathNot: ["^src/plan/", "cron-parser", "luxon"] },
    },
    {
      name: "snapshot-never-writes",
      comment: "snapshot/ is the read-only room: only read queries",
      severity: "error",
      from: { path: "^src/snapshot/" },
      to: { path: "^src/db/sql/", pathNot: "^src/db/sql/(snapshot|controls_snapshot|metrics|settings)_sql\\.ts$" },
    },
    {
      name: "controls-beside-execute",
      comment: "controls/ writes operator state; the cycle's writes (execute/) are not its to call",
      severity: "error",
      from: { path: "^src/controls/" },
      to: { path: "^src/execute/" },
    },
    ...upward,
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
