import { join } from 'node:path';
import type { Credentials } from '../../registry/management/credentials.ts';
import { prepareAgentBundle } from '../runners/agent-kit.ts';
import { DockerRunner } from '../runners/docker-runner.ts';
import { KubernetesRunner } from '../runners/kubernetes-runner.ts';
import { LocalRunner } from '../runners/local-runner.ts';
import { RunnerError, type Runner } from '../runners/runner.ts';
import type { ComputeEnv } from './compute-envs.ts';

export interface RunnerFactoryDeps {
  /** Berth's data directory: local sessions' default work directory, the container runners' agent kit. */
  dataDir: string;
  /** Where a compute environment's credential (a cluster token, a registry login) is revealed from. */
  credentials: Credentials;
}

/** A login for the registry of a docker environment's credential: images from `registry` are pulled with it. */
export interface RegistryLogin {
  registry: string;
  username: string;
  password: string;
}

/** The runner of a compute environment, made from its settings and its credential's secret. */
export async function runnerFor(env: ComputeEnv, deps: RunnerFactoryDeps): Promise<Runner> {
  switch (env.platform) {
    case 'local':
      return new LocalRunner({ workDir: env.config.workDir ?? join(deps.dataDir, 'sessions'), agentBundle: () => prepareAgentBundle(join(deps.dataDir, 'agent-kit')) });
    case 'docker':
      return new DockerRunner({ socketPath: env.config.socket, network: env.config.network, dataDir: deps.dataDir });
    case 'kubernetes': {
      const { server, namespace, agentImage, storageClass, caCert, insecure, workspaceSize } = env.config;
      return new KubernetesRunner({ server, token: await clusterToken(env, deps), caCert, insecure, namespace, agentImage, storageClass, workspaceSize });
    }
  }
}

/** A kubernetes environment's bearer token: the secret (`password`) of its credential. */
async function clusterToken(env: ComputeEnv, deps: RunnerFactoryDeps): Promise<string | undefined> {
  if (env.credentialName === null) return undefined;
  if (!(await deps.credentials.exists(env.workspaceId, env.credentialName))) throw deletedCredential(env.credentialName);
  return (await deps.credentials.reveal(env.workspaceId, env.credentialName)).password || undefined;
}

/** The registry login of a docker environment's credential; null when it has none. */
export async function registryLoginFor(env: ComputeEnv, deps: RunnerFactoryDeps): Promise<RegistryLogin | null> {
  if (env.platform !== 'docker' || env.credentialName === null) return null;
  const record = await deps.credentials.findByName(env.workspaceId, env.credentialName);
  if (!record) throw deletedCredential(env.credentialName);
  const login = await deps.credentials.reveal(env.workspaceId, env.credentialName);
  return { registry: record.keys.registry ?? '', ...login };
}

/**
 * One runner per compute environment, made on first use and kept: a runner remembers what it started (the
 * local runner the exit codes of its children). It is made again when its credential changed.
 */
export class ComputeRunners {
  private readonly runners = new Map<string, { fingerprint: string; runner: Runner }>();

  constructor(private readonly deps: RunnerFactoryDeps) {}

  async runnerOf(env: ComputeEnv): Promise<Runner> {
    const fingerprint = await this.fingerprintOf(env);
    const known = this.runners.get(env.id);
    if (known?.fingerprint === fingerprint) return known.runner;
    const runner = await runnerFor(env, this.deps);
    this.runners.set(env.id, { fingerprint, runner });
    return runner;
  }

  /** Drops the runner of a deleted environment. */
  forget(id: string): void {
    this.runners.delete(id);
  }

  /** What the runner is made of besides the (unchangeable) settings: its credential's version. */
  private async fingerprintOf(env: ComputeEnv): Promise<string> {
    if (env.credentialName === null) return 'none';
    const credential = await this.deps.credentials.findByName(env.workspaceId, env.credentialName);
    if (!credential) throw deletedCredential(env.credentialName);
    return `${credential.id}@${credential.updatedAt}`;
  }
}

function deletedCredential(name: string): RunnerError {
  return new RunnerError('UNAVAILABLE', `the credential ${name} it uses was deleted`);
}
