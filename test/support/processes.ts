import { readFileSync } from 'node:fs';
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a real command to completion, capturing its output; rejects on a non-zero exit unless `allowFailure`. */
export function run(command: string, args: string[], options: SpawnOptions & { allowFailure?: boolean; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const result = { code, stdout, stderr };
      if (code !== 0 && !options.allowFailure) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code}\n${stderr}\n${stdout}`.slice(0, 8000)));
      } else resolve(result);
    });
    // A child that exits before reading its input must not fail the test with EPIPE.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(options.input ?? '');
  });
}

/** Stops a child by PID: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  process.kill(child.pid, 'SIGTERM');
  const killer = setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}

/** A port on 127.0.0.1 that was free a moment ago: for a server to bind, or for a client to find closed. */
export { pickFreePort as freePort } from '../../src/connect/agent/port-probe.ts';

/** Keeps the tail of a starting child's output and why it ended, for the error a failed start reports. */
export function watchChild(child: ChildProcess, maxLogChars = 8 * 1024): { log: () => string; exited: () => string | undefined } {
  let log = '';
  const keep = (data: Buffer) => (log = (log + data.toString()).slice(-maxLogChars));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited: string | undefined;
  child.once('exit', (code, signal) => (exited = `exited (${code ?? signal})`));
  child.once('error', (error) => (exited = `failed to start: ${error.message}`));
  return { log: () => log, exited: () => exited };
}

/** Whether `pid` runs: it exists and is not a zombie (an ended process its parent has not reaped). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}
