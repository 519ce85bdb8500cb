import type { Credentials } from '../../registry/management/credentials.ts';
import type { RunnerCheck } from '../runners/runner.ts';
import type { ComputeEnv } from './compute-envs.ts';
import type { ComputeRunners } from './runner-factory.ts';

/**
 * A check gets this long. The first check of a container platform may prepare the session agent kit
 * (bundling the agent, copying node), which takes a while on a slow disk; a daemon that does not answer
 * at all is cut short by the runner's own timeouts well before.
 */
const checkTimeoutMs = 120_000;

/**
 * Whether sessions can run on an environment now: its credential still exists, then the runner's own
 * check (daemon reachable, cluster answering, tool commands present…). Never throws: a failure is the reason.
 */
export async function checkComputeEnv(env: ComputeEnv, deps: { credentials: Credentials; runners: ComputeRunners }): Promise<RunnerCheck> {
  if (env.credentialName !== null && !(await deps.credentials.exists(env.workspaceId, env.credentialName))) {
    return { available: false, reason: `the credential ${env.credentialName} it uses was deleted` };
  }
  try {
    const runner = await deps.runners.runnerOf(env);
    return await withTimeout(runner.check(), checkTimeoutMs, `the ${env.platform} runner did not answer its check within ${checkTimeoutMs / 1000} s`);
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

/** Sessions cannot start on an INVALID compute environment; the message says which and why. */
export class ComputeEnvUnavailable extends Error {
  constructor(
    readonly env: Pick<ComputeEnv, 'id' | 'name'>,
    readonly reason: string,
  ) {
    super(`compute environment ${env.name} is not available: ${reason}`);
    this.name = 'ComputeEnvUnavailable';
  }
}

/** Throws ComputeEnvUnavailable unless the environment's last check found it AVAILABLE. */
export function requireAvailable(env: ComputeEnv): void {
  if (env.status !== 'AVAILABLE') throw new ComputeEnvUnavailable(env, env.statusReason ?? 'its last check failed');
}

function withTimeout<T>(work: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
