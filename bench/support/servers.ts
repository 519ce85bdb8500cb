import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../test/support/processes.ts';

/** A server process the benchmark started; it is only ever stopped by its own PID. */
export interface ServerProcess {
  pid: number;
  /** File that receives the server's stdout and stderr. */
  logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `command` in the background with its output in `logFile`. */
export function startProcess(command: string, args: string[], options: { logFile: string; cwd?: string; env?: NodeJS.ProcessEnv }): ServerProcess {
  const log = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', () => undefined); // surfaces as an exit; the readiness wait reports it
  const pid = child.pid;
  return {
    pid,
    logFile: options.logFile,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(pid, 'SIGTERM');
      const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
      if (killed) {
        process.kill(pid, 'SIGKILL');
        await exited;
      }
    },
  };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export { pickFreePort as freePort } from '../../src/connect/agent/port-probe.ts';

/** Polls `url` until it answers with `expectedStatus`; fails with the server's log when it does not in time. */
export async function waitForHttp(url: string, expectedStatus: number, server: ServerProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      await response.arrayBuffer();
      if (response.status === expectedStatus) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (!processAlive(server.pid)) break;
    await sleep(100);
  }
  throw new Error(`${url} did not answer ${expectedStatus} (${last}); log:\n${readFileSync(server.logFile, 'utf8').slice(-4000)}`);
}
