import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import type { SecretBox } from '../../secrets/secret-box.ts';
import { RegistryError } from '../errors.ts';

/** A secret Berth uses on a workspace's behalf, e.g. the login of an upstream registry. */
export interface StoredCredential {
  name: string;
  kind: 'container-registry';
  username: string | null;
  createdAt: number;
}

/**
 * Named credentials of a workspace, sealed at rest. Pull-through cache rules refer to them by
 * name, as ECR rules refer to `ecr-pullthroughcache/<name>` secrets. The secret never leaves
 * Berth through the API: only `reveal` (for Berth's own use) returns it.
 */
export class Credentials {
  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
  ) {}

  async put(workspace: Workspace, input: { name: string; username?: string; secret: string }): Promise<StoredCredential> {
    if (!/^[A-Za-z0-9/_+=.@:-]{1,512}$/.test(input.name)) throw new RegistryError('InvalidParameter', `invalid credential name "${input.name.slice(0, 100)}"`);
    const credential: StoredCredential = { name: input.name, kind: 'container-registry', username: input.username ?? null, createdAt: Date.now() };
    try {
      await this.db
        .insertInto('credentials')
        .values({
          id: randomUUID(),
          workspace_id: workspace.id,
          name: input.name,
          kind: credential.kind,
          username: credential.username,
          secret_sealed: this.box.seal(input.secret),
          created_at: credential.createdAt,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new RegistryError('InvalidParameter', `a credential named "${input.name}" already exists`);
      throw error;
    }
    return credential;
  }

  async list(workspace: Workspace): Promise<StoredCredential[]> {
    const rows = await this.db.selectFrom('credentials').select(['name', 'username', 'created_at']).where('workspace_id', '=', workspace.id).orderBy('name').execute();
    return rows.map((row) => ({ name: row.name, kind: 'container-registry', username: row.username, createdAt: row.created_at }));
  }

  async exists(workspaceId: string, name: string): Promise<boolean> {
    return !!(await this.db.selectFrom('credentials').select('id').where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirst());
  }

  /** The user name and secret, for Berth's own use (never returned by the API). CredentialNotFound when gone. */
  async reveal(workspaceId: string, name: string): Promise<{ username: string; password: string }> {
    const row = await this.db.selectFrom('credentials').select(['username', 'secret_sealed']).where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirst();
    if (!row) throw new RegistryError('CredentialNotFound', `The credential '${name}' does not exist`);
    return { username: row.username ?? '', password: this.box.open(row.secret_sealed) };
  }

  /** Deletes a credential. Idempotent. */
  async delete(workspace: Workspace, name: string): Promise<void> {
    await this.db.deleteFrom('credentials').where('workspace_id', '=', workspace.id).where('name', '=', name).execute();
  }
}
