import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { CredentialsTable } from '../../db/schema.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import type { SecretBox } from '../../secrets/secret-box.ts';
import { RegistryError } from '../errors.ts';

/** Who a credential logs in to: a container registry, AWS, or GitHub. */
export const credentialProviders = ['container-reg', 'aws', 'github'] as const;
export type CredentialProvider = (typeof credentialProviders)[number];

/** A credential as everyone but Berth itself sees it: its non-secret keys only. */
export interface CredentialRecord {
  id: string;
  workspaceId: string;
  name: string;
  provider: CredentialProvider;
  /** Non-secret keys (registry host, user name, access key id, role ARN); secrets never appear here. */
  keys: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

/** The legacy view of a credential (`/api/workspaces/{ws}/credentials`): a login by name. */
export interface StoredCredential {
  name: string;
  kind: 'container-registry' | Exclude<CredentialProvider, 'container-reg'>;
  username: string | null;
  createdAt: number;
}

const credentialName = z.string().regex(/^[A-Za-z0-9/_+=.@:-]{1,512}$/, 'use 1 to 512 letters, digits and /_+=.@:-');
const secretText = z.string().min(1).max(8192);
const registryHost = z.string().regex(/^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/, 'must be a registry host, e.g. ghcr.io or registry.example.org:5000');

/**
 * Each provider's keys, and which of them are secret (sealed, never returned). A credential's keys are
 * validated in full on create and after an update merged the stored secrets in.
 */
const providers = {
  'container-reg': {
    secretKeys: ['password'],
    keys: z.object({ registry: registryHost, userName: z.string().min(1).max(512), password: secretText }).strict(),
    login: (keys: Record<string, string | undefined>) => ({ username: keys.userName ?? '', password: keys.password ?? '' }),
  },
  aws: {
    secretKeys: ['secretKey'],
    keys: z
      .object({
        accessKey: z.string().regex(/^[A-Z0-9]{16,128}$/, 'must be an AWS access key id').optional(),
        secretKey: secretText.optional(),
        assumeRoleArn: z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/, 'must be an IAM role ARN').optional(),
      })
      .strict()
      .superRefine((keys, context) => {
        if (keys.accessKey !== undefined && keys.secretKey === undefined) context.addIssue({ code: 'custom', path: ['secretKey'], message: 'an access key needs its secret key' });
        if (keys.secretKey !== undefined && keys.accessKey === undefined) context.addIssue({ code: 'custom', path: ['accessKey'], message: 'a secret key needs its access key' });
        if (keys.accessKey === undefined && keys.assumeRoleArn === undefined) context.addIssue({ code: 'custom', path: ['accessKey'], message: 'give accessKey and secretKey, or assumeRoleArn' });
      }),
    login: (keys: Record<string, string | undefined>) => ({ username: keys.accessKey ?? '', password: keys.secretKey ?? '' }),
  },
  github: {
    secretKeys: ['password'],
    keys: z.object({ userName: z.string().min(1).max(512).optional(), password: secretText }).strict(),
    login: (keys: Record<string, string | undefined>) => ({ username: keys.userName ?? '', password: keys.password ?? '' }),
  },
} as const satisfies Record<CredentialProvider, { secretKeys: readonly string[]; keys: z.ZodType; login: (keys: Record<string, string | undefined>) => { username: string; password: string } }>;

/** A new credential as the API takes it: `{name, provider, keys}`, keys checked against the provider. */
export const newCredentialSchema = z.discriminatedUnion('provider', [
  z.object({ name: credentialName, provider: z.literal('container-reg'), keys: providers['container-reg'].keys }).strict(),
  z.object({ name: credentialName, provider: z.literal('aws'), keys: providers.aws.keys }).strict(),
  z.object({ name: credentialName, provider: z.literal('github'), keys: providers.github.keys }).strict(),
]);
export type NewCredential = z.infer<typeof newCredentialSchema>;

/**
 * A change of a credential's keys. The full set of non-secret keys is given; a secret left out keeps its
 * stored value (clients never see secrets, so they cannot send them back).
 */
export type CredentialChange = { keys: Record<string, unknown> };

/** Rows written before providers existed: kind `container-registry`, no fields, the bare secret sealed. */
const legacyKind = 'container-registry';

/**
 * Named credentials of a workspace, sealed at rest (AES-256-GCM by the SecretBox: the JSON of the
 * provider's secret keys in `secret_sealed`; its other keys in `fields`). Pull-through cache rules,
 * builds and git clones refer to them by name; the API by id. Secrets never leave Berth through the API:
 * only `reveal` and `revealKeys` (for Berth's own use) return them.
 */
export class Credentials {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  /** A login by name (the legacy API and pull-through rules): stored as a container registry credential. */
  async put(workspace: Workspace, input: { name: string; username?: string; secret: string }): Promise<StoredCredential> {
    if (!credentialName.safeParse(input.name).success) throw new RegistryError('InvalidParameter', `invalid credential name "${input.name.slice(0, 100)}"`);
    const createdAt = Date.now();
    await this.insert({
      id: randomUUID(),
      workspace_id: workspace.id,
      name: input.name,
      kind: legacyKind,
      username: input.username ?? null,
      secret_sealed: this.box.seal(input.secret),
      fields: null,
      created_at: createdAt,
      updated_at: createdAt,
    });
    return { name: input.name, kind: legacyKind, username: input.username ?? null, createdAt };
  }

  /** Creates a credential of a provider; CONFLICT-like InvalidParameter (detail `{conflict: true}`) when the name is taken. */
  async create(workspace: Workspace, input: NewCredential): Promise<CredentialRecord> {
    const parsed = newCredentialSchema.safeParse(input);
    if (!parsed.success) throw invalid(parsed.error);
    const { provider, keys } = parsed.data;
    const now = Date.now();
    const id = randomUUID();
    await this.insert({ id, workspace_id: workspace.id, name: parsed.data.name, created_at: now, updated_at: now, ...this.sealed(provider, keys) });
    return { id, workspaceId: workspace.id, name: parsed.data.name, provider, keys: publicKeys(provider, keys), createdAt: now, updatedAt: now };
  }

  async list(workspace: Workspace): Promise<StoredCredential[]> {
    return (await this.records(workspace.id)).map((record) => ({
      name: record.name,
      kind: record.provider === 'container-reg' ? legacyKind : record.provider,
      username: providers[record.provider].login(record.keys).username || null,
      createdAt: record.createdAt,
    }));
  }

  /** A workspace's credentials, by name, without their secrets. */
  async records(workspaceId: string): Promise<CredentialRecord[]> {
    const rows = await this.db.selectFrom('credentials').selectAll().where('workspace_id', '=', workspaceId).orderBy('name').execute();
    return rows.map(toRecord);
  }

  /** A credential by id, within a workspace when one is given; undefined when there is none. */
  async get(id: string, workspaceId?: string): Promise<CredentialRecord | undefined> {
    let query = this.db.selectFrom('credentials').selectAll().where('id', '=', id);
    if (workspaceId !== undefined) query = query.where('workspace_id', '=', workspaceId);
    const row = await query.executeTakeFirst();
    return row && toRecord(row);
  }

  async findByName(workspaceId: string, name: string): Promise<CredentialRecord | undefined> {
    const row = await this.db.selectFrom('credentials').selectAll().where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirst();
    return row && toRecord(row);
  }

  async exists(workspaceId: string, name: string): Promise<boolean> {
    return !!(await this.db.selectFrom('credentials').select('id').where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirst());
  }

  /** The user name and secret, for Berth's own use (never returned by the API). CredentialNotFound when gone. */
  async reveal(workspaceId: string, name: string): Promise<{ username: string; password: string }> {
    const row = await this.db.selectFrom('credentials').selectAll().where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirst();
    if (!row) throw new RegistryError('CredentialNotFound', `The credential '${name}' does not exist`);
    const record = toRecord(row);
    return providers[record.provider].login({ ...record.keys, ...this.secretsOf(row) });
  }

  /** Every key of a credential, secrets included, for Berth's own use (a runner's login). CredentialNotFound when gone. */
  async revealKeys(workspaceId: string, id: string): Promise<{ record: CredentialRecord; keys: Record<string, string> }> {
    const row = await this.db.selectFrom('credentials').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(id);
    const record = toRecord(row);
    return { record, keys: { ...record.keys, ...this.secretsOf(row) } };
  }

  /**
   * Replaces a credential's keys (its name and provider stay: others refer to it by name). Secrets left out
   * keep their stored values; the merged keys are validated in full, so a bad change changes nothing.
   */
  async update(workspaceId: string, id: string, change: CredentialChange): Promise<CredentialRecord> {
    return this.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('credentials').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
      if (!row) throw notFound(id);
      const { provider } = toRecord(row);
      const kept = Object.fromEntries(Object.entries(this.secretsOf(row)).filter(([key]) => change.keys[key] === undefined));
      const merged: Record<string, unknown> = { ...kept, ...change.keys };
      // A secret belongs with its access key: switching an AWS credential to a role drops the key pair.
      if (provider === 'aws' && merged.accessKey === undefined) delete merged.secretKey;
      const parsed = providers[provider].keys.safeParse(merged);
      if (!parsed.success) throw invalid(parsed.error, 'keys');
      const updatedAt = Date.now();
      await tx.updateTable('credentials').set({ ...this.sealed(provider, parsed.data as Record<string, string>), updated_at: updatedAt }).where('id', '=', id).execute();
      return { ...toRecord(row), keys: publicKeys(provider, parsed.data as Record<string, string>), updatedAt };
    });
  }

  /** Deletes a credential by name. Idempotent. */
  async delete(workspace: Workspace, name: string): Promise<void> {
    await this.db.deleteFrom('credentials').where('workspace_id', '=', workspace.id).where('name', '=', name).execute();
  }

  /** Deletes a credential by id; false when there was none. */
  async deleteById(workspaceId: string, id: string): Promise<boolean> {
    const result = await this.db.deleteFrom('credentials').where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** The columns holding a provider's keys: the secret ones sealed together, the others in `fields`. */
  private sealed(provider: CredentialProvider, keys: Record<string, string | undefined>): Pick<CredentialsTable, 'kind' | 'username' | 'fields' | 'secret_sealed'> {
    const secrets = Object.fromEntries((providers[provider].secretKeys as readonly string[]).filter((key) => keys[key] !== undefined).map((key) => [key, keys[key]]));
    return {
      kind: provider,
      username: providers[provider].login(keys).username || null,
      fields: JSON.stringify(publicKeys(provider, keys)),
      secret_sealed: this.box.seal(JSON.stringify(secrets)),
    };
  }

  private secretsOf(row: CredentialsTable): Record<string, string> {
    const opened = this.box.open(row.secret_sealed);
    return row.fields === null ? { password: opened } : (JSON.parse(opened) as Record<string, string>);
  }

  private async insert(row: CredentialsTable): Promise<void> {
    try {
      await this.db.insertInto('credentials').values(row).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new RegistryError('InvalidParameter', `a credential named "${row.name}" already exists`, { conflict: true });
      throw error;
    }
  }
}

function toRecord(row: CredentialsTable): CredentialRecord {
  const legacy = row.fields === null;
  const provider: CredentialProvider = legacy || !isProvider(row.kind) ? 'container-reg' : row.kind;
  const keys = legacy ? (row.username ? { userName: row.username } : {}) : (JSON.parse(row.fields!) as Record<string, string>);
  return { id: row.id, workspaceId: row.workspace_id, name: row.name, provider, keys, createdAt: Number(row.created_at), updatedAt: Number(row.updated_at ?? row.created_at) };
}

function isProvider(kind: string): kind is CredentialProvider {
  return (credentialProviders as readonly string[]).includes(kind);
}

function publicKeys(provider: CredentialProvider, keys: Record<string, string | undefined>): Record<string, string> {
  const secret = providers[provider].secretKeys as readonly string[];
  return Object.fromEntries(Object.entries(keys).filter((entry): entry is [string, string] => entry[1] !== undefined && !secret.includes(entry[0])));
}

function invalid(error: z.ZodError, prefix?: string): RegistryError {
  const issue = error.issues[0]!;
  const field = [prefix, ...issue.path].filter((part) => part !== undefined).join('.') || 'credentials';
  return new RegistryError('InvalidParameter', `${field}: ${issue.message}`, { field });
}

function notFound(id: string): RegistryError {
  return new RegistryError('CredentialNotFound', `no credentials with id "${id.slice(0, 100)}"`);
}
