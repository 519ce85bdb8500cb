import { readFileSync } from 'node:fs';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export function median(values: number[]): number {
  if (values.length === 0) throw new Error('median of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `work` and returns its wall time in seconds alongside its result. */
export async function timed<T>(work: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await work();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

/** Resident set size of a process in bytes (VmRSS), undefined once it is gone. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples a process's RSS every `intervalMs` while `work` runs and reports the peak: a server
 * that buffers whole blobs shows it here even when its allocator later returns the memory.
 */
export async function withPeakRss<T>(pid: number, work: () => Promise<T>, intervalMs = 50): Promise<{ peakBytes: number; result: T }> {
  let peak = residentBytes(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, residentBytes(pid) ?? 0);
  }, intervalMs);
  try {
    const result = await work();
    peak = Math.max(peak, residentBytes(pid) ?? 0);
    return { peakBytes: peak, result };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Share of all cores busy during `ms` while the benchmark itself is idle: other work on the
 * machine competes with what is measured, so the report shows it.
 */
export async function busyShare(ms = 2_000): Promise<number> {
  const sample = (): { idle: number; total: number } => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0); // idle + iowait
    return { idle, total: fields.reduce((sum, n) => sum + n, 0) };
  };
  const before = sample();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = sample();
  const total = after.total - before.total;
  return total > 0 ? 1 - (after.idle - before.idle) / total : 0;
}

export function formatBytes(bytes: number): string {
  if (bytes >= GiB) return `${(bytes / GiB).toFixed(2)} GiB`;
  return `${(bytes / MiB).toFixed(bytes >= 100 * MiB ? 0 : 1)} MiB`;
}

export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(bytesPerSecond)}/s`;
}

/** The report line saying how busy the machine was with other work around the measurements. */
export function backgroundLine(background: { before: number; after: number }): string {
  const busy = (share: number) => `${(share * 100).toFixed(0)}%`;
  const noisy = Math.max(background.before, background.after) > 0.1 ? ' — expect noise' : '';
  return `other work on the machine (cores busy while the benchmark idled): ${busy(background.before)} before, ${busy(background.after)} after the measurements${noisy}`;
}

/** Nearest-rank percentile (p in 0–100) of `values`. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of nothing');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
