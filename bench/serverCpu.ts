// CPU time the PostgreSQL server spends on a piece of work: what change tracking's triggers add to
// a writer's statements is server CPU, and on a shared 2-vCPU virtual machine wall-clock times of
// the same work swing by ±40% from run to run while the CPU it costs does not. Read from Linux's
// /proc, so only for a server on this machine: every PostgreSQL process is a child of the
// postmaster, and a server process that exits (a closed connection, an autovacuum worker) is
// reaped by it, which adds its CPU time to the postmaster's cutime/cstime.
import { readdir, readFile } from "node:fs/promises";
import pg from "pg";

/** Clock ticks per second of /proc's times (USER_HZ, 100 on every Linux architecture in use). */
const TICKS_PER_SECOND = 100;

interface ProcStat {
  readonly ppid: number;
  /** utime + stime, ticks. */
  readonly own: number;
  /** cutime + cstime (reaped children), ticks. */
  readonly children: number;
}

async function readStat(pid: number): Promise<ProcStat | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null; // exited between the listing and the read
  }
  // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const field = (n: number) => Number(fields[n - 3]);
  return { ppid: field(4), own: field(14) + field(15), children: field(16) + field(17) };
}

async function isPostgres(pid: number): Promise<boolean> {
  try {
    return (await readFile(`/proc/${pid}/comm`, "utf8")).startsWith("postgres");
  } catch {
    return false;
  }
}

/**
 * A reader of the server's total CPU time in milliseconds (the postmaster, its reaped children and
 * its live ones), or null when the server at `url` is not a process of this machine (another host,
 * a container, or not Linux). Read it after the work's connections are closed, so that their
 * processes have been reaped. Resolution: 10 ms.
 */
export async function serverCpuReader(url: string): Promise<(() => Promise<number>) | null> {
  if (process.platform !== "linux") return null;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  let postmasterPid: number | null = null;
  try {
    const result = await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
    // Our own backend, read while it lives: a process of this machine only if it is a postgres
    // process whose parent is one too (a remote server's pid may name anything here; a server in
    // a container on this machine, in another pid namespace, could still be misread).
    const pid = result.rows[0]?.pid ?? 0;
    const stat = await readStat(pid);
    if (stat !== null && (await isPostgres(pid)) && (await isPostgres(stat.ppid))) {
      postmasterPid = stat.ppid;
    }
  } finally {
    await client.end();
  }
  if (postmasterPid === null) return null;
  const postmaster = postmasterPid;
  const ms = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;
  return async () => {
    const own = await readStat(postmaster);
    if (own === null) throw new Error("the PostgreSQL server exited during the benchmark");
    let ticks = own.own + own.children;
    for (const entry of await readdir("/proc")) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      const child = await readStat(pid);
      if (child?.ppid === postmaster) ticks += child.own + child.children;
    }
    return ms(ticks);
  };
}
