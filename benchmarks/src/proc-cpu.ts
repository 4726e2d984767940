/**
 * CPU seconds of processes from /proc (Linux; USER_HZ is 100 on every ABI Node runs on): one process,
 * a PostgreSQL cluster (its postmaster, the backends it has reaped and those still live), and the whole
 * machine's busy time. For the queue benchmarks, which say what saturates the cores.
 */
import { readdirSync, readFileSync } from 'node:fs';

const CLK_TCK = 100;

/** utime + stime (+ reaped children's, with `children`) of `pid`, seconds; 0 if it is gone. */
export function cpuOf(pid: number, children = false): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = Number(f[11]) + Number(f[12]);
    return (children ? own + Number(f[13]) + Number(f[14]) : own) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Every process's (pid, parent pid) now. */
function processTree(): { pid: number; ppid: number }[] {
  const all: { pid: number; ppid: number }[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      all.push({ pid, ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) });
    } catch {
      // gone meanwhile
    }
  }
  return all;
}

/** The postmaster of the PostgreSQL cluster listening on `port`, or undefined. */
export function findPostmaster(port: number): number | undefined {
  for (const { pid } of processTree()) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('postgres')) && cmd.join(' ').includes(`-p ${port}`)) return pid;
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** CPU seconds of the cluster whose postmaster is `postmaster`: its own, its reaped and live backends'. */
export function postgresCpuOf(postmaster: number): number {
  return (
    cpuOf(postmaster, true) +
    processTree()
      .filter((p) => p.ppid === postmaster)
      .reduce((s, p) => s + cpuOf(p.pid), 0)
  );
}

/** CPU seconds of the PostgreSQL cluster on `port` (0 if none is found). */
export function postgresCpu(port: number): number {
  const postmaster = findPostmaster(port);
  return postmaster === undefined ? 0 : postgresCpuOf(postmaster);
}

/** Busy seconds of all the machine's cores (/proc/stat: every state but idle and iowait). */
export function machineBusySeconds(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) / CLK_TCK;
}
