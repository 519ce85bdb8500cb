import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { ComputeEnvsTable } from '../../db/schema.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import type { CredentialProvider, CredentialRecord, Credentials } from '../../registry/management/credentials.ts';
import type { RunnerPlatform } from '../runners/runner.ts';
import { activeStatuses } from '../sessions/session-status.ts';
import { checkComputeEnv } from './compute-checks.ts';
import type { ComputeRunners } from './runner-factory.ts';

export const computePlatforms = ['local', 'docker', 'kubernetes'] as const satisfies readonly RunnerPlatform[];
export type ComputeStatus = 'AVAILABLE' | 'INVALID';

const absolutePath = z.string().max(4096).regex(/^\//, 'must be an absolute path');
const dnsLabel = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const dnsSubdomain = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/** PEM text, or base64 of it (a kubeconfig's certificate-authority-data). */
function isPemCertificate(text: string): boolean {
  const marker = '-----BEGIN CERTIFICATE-----';
  return text.includes(marker) || Buffer.from(text, 'base64').toString('utf8').includes(marker);
}

/** Each platform's settings, with their defaults. Unknown fields are refused: a typo must not pass for a setting. */
export const platformConfigSchemas = {
  local: z
    .object({
      workDir: absolutePath.optional().describe("where sessions' working directories are made; default: in Berth's data directory"),
    })
    .strict(),
  docker: z
    .object({
      socket: z
        .string()
        .max(4096)
        .regex(/^(unix:\/\/)?\//, "must be the absolute path of the engine's unix socket, e.g. /var/run/docker.sock")
        .transform((socket) => socket.replace(/^unix:\/\//, ''))
        .default('/var/run/docker.sock'),
      network: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be a Docker network name or mode, e.g. host').default('host'),
    })
    .strict(),
  kubernetes: z
    .object({
      server: z.string().max(2048).regex(/^https?:\/\/[^\s/]+/, 'must be the URL of the cluster API server, e.g. https://k8s.example.org:6443'),
      namespace: z.string().regex(dnsLabel, 'must be a Kubernetes namespace name (lower-case letters, digits and -)').default('default'),
      agentImage: z.string().min(1).max(1024).regex(/^[^\s]+$/, 'must be an image reference'),
      storageClass: z.string().regex(dnsSubdomain, 'must be a storage class name').optional(),
      caCert: z.string().max(65_536).refine(isPemCertificate, "must be the cluster's CA certificate: PEM, or base64 of the PEM").optional(),
      insecure: z.boolean().optional().describe('skip verifying the server certificate (test clusters only)'),
      workspaceSize: z.string().regex(/^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/, 'must be a Kubernetes quantity, e.g. 10Gi').optional(),
    })
    .strict(),
} as const satisfies Record<RunnerPlatform, z.ZodType>;

export type LocalComputeConfig = z.output<(typeof platformConfigSchemas)['local']>;
export type DockerComputeConfig = z.output<(typeof platformConfigSchemas)['docker']>;
export type KubernetesComputeConfig = z.output<(typeof platformConfigSchemas)['kubernetes']>;

/**
 * Which credentials a platform takes: docker a registry login for pulling session images; kubernetes the
 * cluster's bearer token, held as the `password` of a GitHub-style (token only) or registry credential.
 */
const credentialRules: Record<RunnerPlatform, { required: boolean; providers: readonly CredentialProvider[]; purpose: string }> = {
  local: { required: false, providers: [], purpose: 'none: it runs on the Berth host' },
  docker: { required: false, providers: ['container-reg'], purpose: 'a container registry login (provider container-reg) for pulling images' },
  kubernetes: { required: true, providers: ['github', 'container-reg'], purpose: "the cluster's bearer token, as the password of a github or container-reg credential" },
};

const envName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'use 1 to 100 letters, digits and _.- (starting with a letter or digit)');
const credentialsId = z.string().min(1).max(128).optional();

/** A new compute environment as the API takes it: `{name, platform, config, credentialsId?}`. */
export const newComputeEnvSchema = z.discriminatedUnion('platform', [
  z.object({ name: envName, platform: z.literal('local'), config: platformConfigSchemas.local.prefault({}), credentialsId }).strict(),
  z.object({ name: envName, platform: z.literal('docker'), config: platformConfigSchemas.docker.prefault({}), credentialsId }).strict(),
  z.object({ name: envName, platform: z.literal('kubernetes'), config: platformConfigSchemas.kubernetes, credentialsId }).strict(),
]);
export type NewComputeEnv = z.input<typeof newComputeEnvSchema>;

interface ComputeEnvFields {
  id: string;
  workspaceId: string;
  name: string;
  /** The workspace credential the runner uses, by name (null: none). */
  credentialName: string | null;
  status: ComputeStatus;
  /** Why it is INVALID; null when AVAILABLE. */
  statusReason: string | null;
  checkedAt: number | null;
  createdBy: string | null;
  createdAt: number;
  updatedAt: number;
}

/** A compute environment: where a workspace's sessions run, with its platform's settings. */
export type ComputeEnv = ComputeEnvFields &
  ({ platform: 'local'; config: LocalComputeConfig } | { platform: 'docker'; config: DockerComputeConfig } | { platform: 'kubernetes'; config: KubernetesComputeConfig });

/** A request about compute environments that cannot be done: INVALID names the field, CONFLICT says what is in the way. */
export class ComputeEnvError extends Error {
  constructor(
    readonly code: 'INVALID' | 'NOT_FOUND' | 'CONFLICT',
    message: string,
  ) {
    super(message);
    this.name = 'ComputeEnvError';
  }
}

/** The environment every workspace gets when it has none: sessions as processes on the Berth host. */
export const defaultLocalName = 'local';

/**
 * A workspace's compute environments (table compute_envs). Each is checked when it is created and on
 * `recheck`/`recheckAll` (the periodic job): AVAILABLE, or INVALID with the reason. Settings are fixed
 * once created: to change them, add another and delete the old one.
 */
export class ComputeEnvs {
  /** Checks under way, by id: a second request for the same check waits for the first. */
  private readonly checking = new Map<string, Promise<ComputeEnv>>();

  constructor(private readonly deps: { db: Db; credentials: Credentials; runners: ComputeRunners }) {}

  /** Validates (a bad request changes nothing), stores, checks, and answers the environment with its status. */
  async create(workspace: Workspace, input: unknown, createdBy: string | null): Promise<ComputeEnv> {
    const parsed = newComputeEnvSchema.safeParse(input);
    if (!parsed.success) throw invalid(parsed.error);
    const { name, platform, config } = parsed.data;
    const credential = await this.credentialFor(workspace, platform, parsed.data.credentialsId);
    const now = Date.now();
    const row: ComputeEnvsTable = {
      id: `ce_${randomBytes(8).toString('hex')}`,
      workspace_id: workspace.id,
      name,
      platform,
      config: JSON.stringify(config),
      credential_name: credential?.name ?? null,
      status: 'INVALID',
      status_reason: 'not checked yet',
      checked_at: null,
      created_by: createdBy,
      created_at: now,
      updated_at: now,
    };
    try {
      await this.deps.db.insertInto('compute_envs').values(row).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new ComputeEnvError('CONFLICT', `workspace ${workspace.slug} already has a compute environment named "${name}"`);
      throw error;
    }
    return this.recheck(toComputeEnv(row));
  }

  /** A `local` environment named `local` for a workspace that has no environment; undefined when it has one. */
  async ensureDefaultLocal(workspace: Workspace): Promise<ComputeEnv | undefined> {
    if ((await this.list(workspace.id)).length > 0) return undefined;
    try {
      return await this.create(workspace, { name: defaultLocalName, platform: 'local', config: {} }, null);
    } catch (error) {
      if (error instanceof ComputeEnvError && error.code === 'CONFLICT') return undefined; // made meanwhile by another caller
      throw error;
    }
  }

  async list(workspaceId: string): Promise<ComputeEnv[]> {
    const rows = await this.deps.db.selectFrom('compute_envs').selectAll().where('workspace_id', '=', workspaceId).orderBy('created_at').orderBy('name').execute();
    return rows.map(toComputeEnv);
  }

  /** By id, within a workspace when one is given. */
  async get(id: string, workspaceId?: string): Promise<ComputeEnv | undefined> {
    let query = this.deps.db.selectFrom('compute_envs').selectAll().where('id', '=', id);
    if (workspaceId !== undefined) query = query.where('workspace_id', '=', workspaceId);
    const row = await query.executeTakeFirst();
    return row && toComputeEnv(row);
  }

  /** A workspace's environment by id or by name. */
  async findByRef(workspaceId: string, idOrName: string): Promise<ComputeEnv | undefined> {
    const envs = await this.list(workspaceId);
    return envs.find((env) => env.id === idOrName) ?? envs.find((env) => env.name === idOrName);
  }

  /** Where a studio that names no environment runs: the workspace's oldest AVAILABLE one. */
  async defaultFor(workspaceId: string): Promise<ComputeEnv | undefined> {
    return (await this.list(workspaceId)).find((env) => env.status === 'AVAILABLE');
  }

  /** Deletes an environment no studio is using (building, starting, running or stopping on it); CONFLICT otherwise. */
  async delete(env: ComputeEnv): Promise<void> {
    const users = await this.deps.db
      .selectFrom('studios')
      .select('name')
      .where('compute_env_id', '=', env.id)
      .where('status', 'in', [...activeStatuses])
      .orderBy('name')
      .execute();
    if (users.length > 0) {
      const names = users.map((studio) => studio.name);
      throw new ComputeEnvError('CONFLICT', `compute environment ${env.name} is in use by ${names.length === 1 ? 'studio' : 'studios'} ${names.join(', ')}: stop ${names.length === 1 ? 'it' : 'them'} first`);
    }
    await this.deps.db.deleteFrom('compute_envs').where('id', '=', env.id).execute();
    this.deps.runners.forget(env.id);
  }

  /** Checks an environment now and records the result; answers it with its new status. */
  recheck(env: ComputeEnv): Promise<ComputeEnv> {
    let check = this.checking.get(env.id);
    if (!check) {
      check = this.checkAndRecord(env).finally(() => this.checking.delete(env.id));
      this.checking.set(env.id, check);
    }
    return check;
  }

  /** Re-checks every environment of every workspace (the periodic job); one failing check does not stop the others. */
  async recheckAll(): Promise<void> {
    const rows = await this.deps.db.selectFrom('compute_envs').selectAll().orderBy('created_at').execute();
    for (const row of rows) await this.recheck(toComputeEnv(row)).catch(() => undefined);
  }

  private async checkAndRecord(env: ComputeEnv): Promise<ComputeEnv> {
    const result = await checkComputeEnv(env, this.deps);
    const status: ComputeStatus = result.available ? 'AVAILABLE' : 'INVALID';
    const statusReason = result.available ? null : result.reason;
    const checkedAt = Date.now();
    await this.deps.db.updateTable('compute_envs').set({ status, status_reason: statusReason, checked_at: checkedAt }).where('id', '=', env.id).execute();
    return { ...env, status, statusReason, checkedAt };
  }

  /** The credential a new environment names, once it exists in the workspace and suits the platform. */
  private async credentialFor(workspace: Workspace, platform: RunnerPlatform, id: string | undefined): Promise<CredentialRecord | undefined> {
    const rule = credentialRules[platform];
    if (id === undefined) {
      if (rule.required) throw new ComputeEnvError('INVALID', `credentialsId: a ${platform} compute environment needs a credential: ${rule.purpose}`);
      return undefined;
    }
    if (rule.providers.length === 0) throw new ComputeEnvError('INVALID', `credentialsId: a ${platform} compute environment takes no credential (${rule.purpose})`);
    const credential = await this.deps.credentials.get(id, workspace.id);
    if (!credential) throw new ComputeEnvError('INVALID', `credentialsId: no credentials with id "${id.slice(0, 128)}" in workspace ${workspace.slug}`);
    if (!rule.providers.includes(credential.provider)) {
      throw new ComputeEnvError('INVALID', `credentialsId: credential ${credential.name} is a ${credential.provider} credential; a ${platform} compute environment takes ${rule.purpose}`);
    }
    return credential;
  }
}

function toComputeEnv(row: ComputeEnvsTable): ComputeEnv {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    platform: row.platform,
    config: JSON.parse(row.config),
    credentialName: row.credential_name,
    status: row.status as ComputeStatus,
    statusReason: row.status_reason,
    checkedAt: row.checked_at === null ? null : Number(row.checked_at),
    createdBy: row.created_by,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  } as ComputeEnv;
}

function invalid(error: z.ZodError): ComputeEnvError {
  const issue = error.issues[0]!;
  const unknownField = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
  const field = [...issue.path, ...(unknownField === undefined ? [] : [unknownField])].join('.') || 'computeEnv';
  const message = unknownField !== undefined ? 'unknown field' : field === 'platform' ? `must be one of ${computePlatforms.join(', ')}` : issue.message;
  return new ComputeEnvError('INVALID', `${field}: ${message}`);
}
