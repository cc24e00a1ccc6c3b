// A platform's provisioner as an outside project writes it: everything prebuildsd comes from the
// package entry `prebuildsd/worker` (the built dist/, resolved through package.json "exports").
// packageExport.test.ts type-checks this file against the built declarations and runs it; it is
// outside the project's own typecheck (tsconfig.json "exclude"), which runs before a build.
//
//   node platformProvisioner.ts <database url> <organization id> <job id>...
//
// Runs a worker of the organization until every listed job is completed, then prints the build
// the handler read for each job, as JSON keyed by job id.
import pg from "pg";
import {
  type FinalStatus,
  type GetWorkspaceBuildByJobIDRow,
  getWorkspaceBuildByJobID,
  type InsertWorkspaceResourceWithAgentsArgs,
  insertWorkspaceResourceWithAgents,
  type JobHandler,
  type MarkWorkspaceDeletedByJobArgs,
  markWorkspaceDeletedByJob,
  startWorker,
} from "prebuildsd/worker";

const [databaseUrl, organizationId, ...jobIds] = process.argv.slice(2);
if (databaseUrl === undefined || organizationId === undefined || jobIds.length === 0) {
  throw new Error("usage: platformProvisioner.ts <database url> <organization id> <job id>...");
}

const pool = new pg.Pool({ connectionString: databaseUrl });
const builds: Record<string, GetWorkspaceBuildByJobIDRow | null> = {};

const handler: JobHandler = async (job) => {
  const build = await getWorkspaceBuildByJobID(pool, { jobId: job.id });
  builds[job.id] = build;
  // ... the platform builds the workspace here ...
  return {
    onComplete: async (client, status: FinalStatus) => {
      if (status !== "succeeded" || build === null) return;
      if (build.transition === "start") {
        const resource: InsertWorkspaceResourceWithAgentsArgs = {
          jobId: job.id,
          resourceName: "vm",
          agentNames: ["main", "sidecar"],
          lifecycleStates: ["ready", "ready"],
        };
        await insertWorkspaceResourceWithAgents(client, resource);
      }
      if (build.transition === "delete") {
        const deleted: MarkWorkspaceDeletedByJobArgs = { jobId: job.id };
        await markWorkspaceDeletedByJob(client, deleted);
      }
    },
  };
};

const worker = await startWorker({ pool, organizationId, handler, pollInterval: 50 });
try {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM provisioner_jobs WHERE id = ANY($1::uuid[]) AND completed_at IS NOT NULL",
      [jobIds],
    );
    if (rows[0]?.n === jobIds.length) break;
    if (Date.now() > deadline) throw new Error(`jobs not completed within 20 s: ${jobIds}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
} finally {
  await worker.stop();
  await pool.end();
}
process.stdout.write(JSON.stringify(builds));
