import { spawn } from 'node:child_process';
import { ExecutorUnavailable } from './build-executor.ts';

export interface ProcessGroupOptions {
  /** The complete environment: nothing of Berth's own environment is passed on unless listed here. */
  env: NodeJS.ProcessEnv;
  /** stdout and stderr as they come, interleaved. */
  onOutput: (chunk: string) => void;
  signal: AbortSignal;
  /** After an abort, how long the group may take to clean up after SIGTERM before it gets SIGKILL. */
  stopGraceMs: number;
}

export interface ProcessGroupExit {
  /** The exit code; null when a signal ended the process. */
  code: number | null;
  /** The group had to be killed with SIGKILL: it had no chance to clean up after itself. */
  killed: boolean;
}

/**
 * Runs a tool in a process group of its own, so that an abort reaches everything it started (buildah's
 * chroot runtime and the step's processes): SIGTERM first, which lets the tool remove its containers, then
 * SIGKILL if the group is still there after `stopGraceMs`. Resolves when the tool has exited, also after an
 * abort (the caller checks `signal.aborted`); rejects with ExecutorUnavailable when it cannot be started.
 */
export function runProcessGroup(command: string, args: readonly string[], options: ProcessGroupOptions): Promise<ProcessGroupExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stopping = false;
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signalGroup = (name: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, name);
      } catch {
        // the group is already gone
      }
    };
    const stop = (): void => {
      stopping = true;
      signalGroup('SIGTERM');
      killTimer = setTimeout(() => {
        killed = true;
        signalGroup('SIGKILL');
      }, options.stopGraceMs);
    };
    child.stdout!.setEncoding('utf8').on('data', options.onOutput);
    child.stderr!.setEncoding('utf8').on('data', options.onOutput);
    child.once('error', (error: NodeJS.ErrnoException) => {
      options.signal.removeEventListener('abort', stop);
      reject(new ExecutorUnavailable(`cannot run ${command}: ${error.code === 'ENOENT' ? 'not installed (not found on PATH)' : error.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(killTimer);
      options.signal.removeEventListener('abort', stop);
      // A step's process may outlive the tool that was told to stop; it must not outlive the build.
      if (stopping) signalGroup('SIGKILL');
      resolve({ code, killed });
    });
    if (options.signal.aborted) stop();
    else options.signal.addEventListener('abort', stop, { once: true });
  });
}
