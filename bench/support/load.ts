import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../test/support/processes.ts';

/** What a fixed-duration, fixed-concurrency HTTP load run measured. */
export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  completed: number;
  /** Requests that failed or were answered with a status outside 2xx/3xx: any makes the run suspect. */
  failed: number;
}

export interface LoadOptions {
  url: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
}

/**
 * HEAD requests with ApacheBench (`ab -i -k`, one thread, keep-alive). wrk 4.1 cannot measure HEAD:
 * it does not tell its response parser that the request was HEAD, so it waits for the body that
 * Content-Length announces and never counts a response.
 */
export async function headLoad(options: LoadOptions): Promise<LoadResult> {
  // ab keeps a record per request, sized by -n; -t ends the run first unless the server is very fast.
  const requestCap = Math.min(5_000_000, options.seconds * 100_000);
  const args = ['-i', '-k', '-r', '-q', '-c', String(options.connections), '-t', String(options.seconds), '-n', String(requestCap)];
  for (const [name, value] of Object.entries(options.headers)) args.push('-H', `${name}: ${value}`);
  const { stdout } = await run('ab', [...args, options.url], { timeoutMs: (options.seconds + 120) * 1000 });
  const failed = numberAfter(stdout, /^Failed requests:\s+(\d+)/m, 0) + numberAfter(stdout, /^Non-2xx responses:\s+(\d+)/m, 0);
  return {
    requestsPerSecond: numberAfter(stdout, /^Requests per second:\s+([\d.]+)/m),
    p50Ms: numberAfter(stdout, /^\s+50%\s+(\d+)/m),
    p99Ms: numberAfter(stdout, /^\s+99%\s+(\d+)/m),
    completed: numberAfter(stdout, /^Complete requests:\s+(\d+)/m),
    failed,
  };
}

/** GET requests with wrk (`--latency`), headers set by a generated Lua script. */
export async function getLoad(options: LoadOptions & { threads: number; scriptDir: string }): Promise<LoadResult> {
  const script = join(options.scriptDir, `wrk-${Date.now()}-${Math.random().toString(36).slice(2)}.lua`);
  const lines = ['wrk.method = "GET"', ...Object.entries(options.headers).map(([name, value]) => `wrk.headers[${luaString(name)}] = ${luaString(value)}`)];
  await writeFile(script, `${lines.join('\n')}\n`);
  // A generous timeout: wrk drops timed-out requests from its latencies, which would flatter a slow server.
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.seconds}s`, '--timeout', '30s', '--latency', '-s', script, options.url];
  const { stdout } = await run('wrk', args, { timeoutMs: (options.seconds + 120) * 1000 });
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return {
    requestsPerSecond: numberAfter(stdout, /^Requests\/sec:\s+([\d.]+)/m),
    p50Ms: wrkLatencyMs(stdout, '50%'),
    p99Ms: wrkLatencyMs(stdout, '99%'),
    completed: numberAfter(stdout, /^\s+(\d+) requests in/m),
    failed: errors + numberAfter(stdout, /^\s+Non-2xx or 3xx responses:\s+(\d+)/m, 0),
  };
}

function numberAfter(text: string, pattern: RegExp, fallback?: number): number {
  const match = pattern.exec(text);
  if (match) return Number(match[1]);
  if (fallback !== undefined) return fallback;
  throw new Error(`load generator output lacks ${pattern}:\n${text.slice(0, 3000)}`);
}

/** wrk prints latencies with a unit: 850.00us, 12.34ms, 1.02s, 1.50m. */
function wrkLatencyMs(text: string, percentile: string): number {
  const match = new RegExp(`^\\s+${percentile}\\s+([\\d.]+)(us|ms|s|m)[ \\t]*$`, 'm').exec(text);
  if (!match) throw new Error(`wrk output lacks the ${percentile} latency:\n${text.slice(0, 3000)}`);
  const factor = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[match[2] as 'us' | 'ms' | 's' | 'm'];
  return Number(match[1]) * factor;
}

function luaString(value: string): string {
  return JSON.stringify(value); // a JSON string of printable ASCII is also a valid Lua string literal
}
