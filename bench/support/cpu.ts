import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux that matters). */
const ticksPerSecond = 100;

/** CPU time (user + system, in seconds) a process has used so far; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/** Runs `work` and reports the CPU seconds each of `pids` spent meanwhile. */
export async function withCpuSeconds<T>(pids: number[], work: () => Promise<T>): Promise<{ cpu: number[]; result: T }> {
  const before = pids.map((pid) => cpuSeconds(pid) ?? 0);
  const result = await work();
  return { cpu: pids.map((pid, i) => (cpuSeconds(pid) ?? before[i]!) - before[i]!), result };
}
