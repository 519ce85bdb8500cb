import { randomBytes } from 'node:crypto';
import type { Db } from '../db/database.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import { IdentityError } from './errors.ts';
import type { IdentityStore, User, Workspace } from './identity-store.ts';

export interface AccessKeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface AccessKeyInfo {
  accessKeyId: string;
  workspace: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/** What a verified access key stands for: a user acting inside one workspace. */
export interface AccessKeyOwner {
  user: User;
  workspace: Workspace;
  secretAccessKey: string;
}

const base32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const lastUsedResolutionMs = 60_000;

/**
 * ECR-style access key pairs for SigV4 (`aws ecr … --endpoint-url`). Each pair belongs to a user
 * and one workspace, which is the "registry" its requests address. SigV4 verification needs the
 * secret itself, so it is kept sealed by the SecretBox rather than hashed.
 */
export class AccessKeys {
  constructor(
    private readonly db: Db,
    private readonly identity: IdentityStore,
    private readonly box: SecretBox,
  ) {}

  /** Creates a pair for `user` in `workspace` (the user must be a member). The secret is shown once. */
  async create(user: User, workspace: Workspace): Promise<AccessKeyPair> {
    if (!user.isAdmin && !(await this.identity.roleOf(user.id, workspace.id))) {
      throw new IdentityError('FORBIDDEN', `${user.name} is not a member of workspace ${workspace.slug}`);
    }
    const pair = { accessKeyId: `BKIA${randomText(16)}`, secretAccessKey: randomBytes(30).toString('base64') };
    await this.db
      .insertInto('access_keys')
      .values({
        id: pair.accessKeyId,
        user_id: user.id,
        workspace_id: workspace.id,
        secret_sealed: this.box.seal(pair.secretAccessKey),
        created_at: Date.now(),
        last_used_at: null,
      })
      .execute();
    return pair;
  }

  async list(userId: string): Promise<AccessKeyInfo[]> {
    const rows = await this.db
      .selectFrom('access_keys')
      .innerJoin('workspaces', 'workspaces.id', 'access_keys.workspace_id')
      .select(['access_keys.id', 'workspaces.slug', 'access_keys.created_at', 'access_keys.last_used_at'])
      .where('access_keys.user_id', '=', userId)
      .orderBy('access_keys.created_at')
      .execute();
    return rows.map((row) => ({ accessKeyId: row.id, workspace: row.slug, createdAt: row.created_at, lastUsedAt: row.last_used_at }));
  }

  /** Deletes a pair. Idempotent. */
  async delete(userId: string, accessKeyId: string): Promise<void> {
    await this.db.deleteFrom('access_keys').where('id', '=', accessKeyId).where('user_id', '=', userId).execute();
  }

  /** The owner of an access key id and its secret, for signature verification; undefined when unknown. */
  async resolve(accessKeyId: string): Promise<AccessKeyOwner | undefined> {
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) return undefined;
    const row = await this.db.selectFrom('access_keys').selectAll().where('id', '=', accessKeyId).executeTakeFirst();
    if (!row) return undefined;
    const [user, workspace] = await Promise.all([
      this.identity.findUserById(row.user_id),
      this.db.selectFrom('workspaces').select('slug').where('id', '=', row.workspace_id).executeTakeFirst(),
    ]);
    const resolvedWorkspace = workspace && (await this.identity.findWorkspace(workspace.slug));
    if (!user || !resolvedWorkspace) return undefined;
    const now = Date.now();
    if (row.last_used_at === null || now - row.last_used_at > lastUsedResolutionMs) {
      await this.db.updateTable('access_keys').set({ last_used_at: now }).where('id', '=', row.id).execute();
    }
    return { user, workspace: resolvedWorkspace, secretAccessKey: this.box.open(row.secret_sealed) };
  }
}

function randomText(length: number): string {
  return Array.from(randomBytes(length), (byte) => base32[byte % 32]).join('');
}
