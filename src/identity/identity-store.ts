import { randomInt, randomUUID } from 'node:crypto';
import type { Db } from '../db/database.ts';
import { isUniqueViolation } from '../db/database.ts';
import { hashTokenSecret, looksLikeTokenSecret, newTokenSecret, type TokenScope } from './api-tokens.ts';
import { IdentityError } from './errors.ts';
import type { Role } from './roles.ts';

export interface User {
  id: string;
  name: string;
  isAdmin: boolean;
}

export interface Workspace {
  id: string;
  slug: string;
  registryId: string;
  organizationId: string | null;
  personalUserId: string | null;
}

export interface Organization {
  id: string;
  name: string;
}

/** A member of a workspace and their role in it. */
export interface Member {
  user: User;
  role: Role;
}

export interface ApiTokenInfo {
  id: string;
  name: string;
  scopes: TokenScope[];
  createdAt: number;
  expiresAt: number | null;
}

export interface Authenticated {
  user: User;
  token: ApiTokenInfo;
}

/**
 * Slugs of workspaces (and so user names) are one path component of a repository name, so they
 * follow the OCI component grammar, a little stricter: 2..64 characters.
 */
const slugPattern = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;

export function validateSlug(slug: string, what: string): void {
  if (slug.length < 2 || slug.length > 64 || !slugPattern.test(slug)) {
    throw new IdentityError(
      'INVALID',
      `${what} "${slug}" is invalid: use 2 to 64 lower-case letters and digits, separated by '.', '_' or '-'`,
    );
  }
}

/** How often `last_used_at` of a token may be written: not on every request. */
const lastUsedResolutionMs = 60_000;

/** Users, organizations, workspaces, memberships and API tokens. */
export class IdentityStore {
  constructor(private readonly db: Db) {}

  /** Creates a user and the personal workspace named after it, owned by it. */
  async createUser(input: { name: string; isAdmin?: boolean }): Promise<User> {
    validateSlug(input.name, 'user name');
    const user: User = { id: randomUUID(), name: input.name, isAdmin: input.isAdmin ?? false };
    const now = Date.now();
    await this.insertOrConflict(`a user or workspace named "${input.name}" already exists`, () =>
      this.db.transaction().execute(async (tx) => {
        await tx
          .insertInto('users')
          .values({ id: user.id, name: user.name, is_admin: user.isAdmin ? 1 : 0, created_at: now })
          .execute();
        const workspaceId = randomUUID();
        await tx
          .insertInto('workspaces')
          .values({
            id: workspaceId,
            slug: user.name,
            organization_id: null,
            personal_user_id: user.id,
            registry_id: newRegistryId(),
            created_at: now,
          })
          .execute();
        await tx.insertInto('memberships').values({ workspace_id: workspaceId, user_id: user.id, role: 'owner' }).execute();
      }),
    );
    return user;
  }

  async findUser(name: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return row && { id: row.id, name: row.name, isAdmin: row.is_admin === 1 };
  }

  async requireUser(name: string): Promise<User> {
    const user = await this.findUser(name);
    if (!user) throw new IdentityError('NOT_FOUND', `no user named "${name}"`);
    return user;
  }

  async listUsers(): Promise<User[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('name').execute();
    return rows.map((row) => ({ id: row.id, name: row.name, isAdmin: row.is_admin === 1 }));
  }

  async createOrganization(name: string): Promise<{ id: string; name: string }> {
    validateSlug(name, 'organization name');
    const org = { id: randomUUID(), name };
    await this.insertOrConflict(`an organization named "${name}" already exists`, () =>
      this.db.insertInto('organizations').values({ ...org, created_at: Date.now() }).execute(),
    );
    return org;
  }

  /** Creates a shared workspace owned by `owner`. Slugs are unique across all workspaces and users. */
  async createWorkspace(input: { slug: string; organization?: string; owner: User }): Promise<Workspace> {
    validateSlug(input.slug, 'workspace slug');
    const organizationId = input.organization ? await this.organizationId(input.organization) : null;
    const workspace: Workspace = {
      id: randomUUID(),
      slug: input.slug,
      registryId: newRegistryId(),
      organizationId,
      personalUserId: null,
    };
    await this.insertOrConflict(`a workspace or user named "${input.slug}" already exists`, () =>
      this.db.transaction().execute(async (tx) => {
        const clash = await tx.selectFrom('users').select('id').where('name', '=', input.slug).executeTakeFirst();
        if (clash) throw new IdentityError('CONFLICT', `"${input.slug}" is a user's personal workspace`);
        await tx
          .insertInto('workspaces')
          .values({
            id: workspace.id,
            slug: workspace.slug,
            organization_id: organizationId,
            personal_user_id: null,
            registry_id: workspace.registryId,
            created_at: Date.now(),
          })
          .execute();
        await tx.insertInto('memberships').values({ workspace_id: workspace.id, user_id: input.owner.id, role: 'owner' }).execute();
      }),
    );
    return workspace;
  }

  async findWorkspace(slug: string): Promise<Workspace | undefined> {
    const row = await this.db.selectFrom('workspaces').selectAll().where('slug', '=', slug).executeTakeFirst();
    return row && toWorkspace(row);
  }

  async findWorkspaceById(id: string): Promise<Workspace | undefined> {
    const row = await this.db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toWorkspace(row);
  }

  /** A workspace named by its id or its slug (API clients may send either). */
  async findWorkspaceByRef(ref: string): Promise<Workspace | undefined> {
    return (await this.findWorkspaceById(ref)) ?? (await this.findWorkspace(ref));
  }

  async requireWorkspaceByRef(ref: string): Promise<Workspace> {
    const workspace = await this.findWorkspaceByRef(ref);
    if (!workspace) throw new IdentityError('NOT_FOUND', `no workspace "${ref.slice(0, 100)}"`);
    return workspace;
  }

  async listOrganizations(): Promise<Organization[]> {
    return this.db.selectFrom('organizations').select(['id', 'name']).orderBy('name').execute();
  }

  /** An organization named by its id or its name. */
  async findOrganization(ref: string): Promise<Organization | undefined> {
    const byId = await this.db.selectFrom('organizations').select(['id', 'name']).where('id', '=', ref).executeTakeFirst();
    return byId ?? (await this.db.selectFrom('organizations').select(['id', 'name']).where('name', '=', ref).executeTakeFirst());
  }

  async requireOrganization(ref: string): Promise<Organization> {
    const organization = await this.findOrganization(ref);
    if (!organization) throw new IdentityError('NOT_FOUND', `no organization "${ref.slice(0, 100)}"`);
    return organization;
  }

  async workspacesInOrganization(organizationId: string): Promise<Workspace[]> {
    const rows = await this.db.selectFrom('workspaces').selectAll().where('organization_id', '=', organizationId).orderBy('slug').execute();
    return rows.map(toWorkspace);
  }

  /** The members of a workspace with their roles, by user name. */
  async membersOf(workspaceId: string): Promise<Member[]> {
    const rows = await this.db
      .selectFrom('memberships')
      .innerJoin('users', 'users.id', 'memberships.user_id')
      .select(['users.id', 'users.name', 'users.is_admin', 'memberships.role'])
      .where('memberships.workspace_id', '=', workspaceId)
      .orderBy('users.name')
      .execute();
    return rows.map((row) => ({ user: { id: row.id, name: row.name, isAdmin: row.is_admin === 1 }, role: row.role as Role }));
  }

  /** The workspace that is the ECR "registry" with this 12-digit id. */
  async findWorkspaceByRegistryId(registryId: string): Promise<Workspace | undefined> {
    const row = await this.db.selectFrom('workspaces').selectAll().where('registry_id', '=', registryId).executeTakeFirst();
    return row && toWorkspace(row);
  }

  async requireWorkspace(slug: string): Promise<Workspace> {
    const workspace = await this.findWorkspace(slug);
    if (!workspace) throw new IdentityError('NOT_FOUND', `no workspace "${slug}"`);
    return workspace;
  }

  /** Workspaces the user is a member of, with the user's role in each. */
  async workspacesOf(userId: string): Promise<Array<Workspace & { role: Role }>> {
    const rows = await this.db
      .selectFrom('memberships')
      .innerJoin('workspaces', 'workspaces.id', 'memberships.workspace_id')
      .selectAll('workspaces')
      .select('memberships.role')
      .where('memberships.user_id', '=', userId)
      .orderBy('workspaces.slug')
      .execute();
    return rows.map((row) => ({ ...toWorkspace(row), role: row.role as Role }));
  }

  /** Sets (or with `undefined` removes) a user's role in a workspace. Idempotent. */
  async setRole(workspaceId: string, userId: string, role: Role | undefined): Promise<void> {
    if (role === undefined) {
      await this.db.deleteFrom('memberships').where('workspace_id', '=', workspaceId).where('user_id', '=', userId).execute();
      return;
    }
    await this.db
      .insertInto('memberships')
      .values({ workspace_id: workspaceId, user_id: userId, role })
      .onConflict((oc) => oc.columns(['workspace_id', 'user_id']).doUpdateSet({ role }))
      .execute();
  }

  async roleOf(userId: string, workspaceId: string): Promise<Role | undefined> {
    const row = await this.db
      .selectFrom('memberships')
      .select('role')
      .where('workspace_id', '=', workspaceId)
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role as Role | undefined;
  }

  /** Issues an API token; the secret is returned once and only its hash is kept. */
  async createApiToken(
    user: User,
    input: { name: string; scopes?: TokenScope[]; expiresAt?: number | null; secret?: string },
  ): Promise<{ token: ApiTokenInfo; secret: string }> {
    const secret = input.secret ?? newTokenSecret();
    if (!looksLikeTokenSecret(secret)) throw new IdentityError('INVALID', 'a token must start with "berth_" and have at least 20 more characters');
    const token: ApiTokenInfo = {
      id: randomUUID(),
      name: input.name,
      scopes: input.scopes?.length ? input.scopes : ['*'],
      createdAt: Date.now(),
      expiresAt: input.expiresAt ?? null,
    };
    await this.insertOrConflict('that token already exists', () =>
      this.db
        .insertInto('api_tokens')
        .values({
          id: token.id,
          user_id: user.id,
          name: token.name,
          token_hash: hashTokenSecret(secret),
          scopes: JSON.stringify(token.scopes),
          created_at: token.createdAt,
          expires_at: token.expiresAt,
          last_used_at: null,
        })
        .execute(),
    );
    return { token, secret };
  }

  async listApiTokens(userId: string): Promise<ApiTokenInfo[]> {
    const rows = await this.db.selectFrom('api_tokens').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
    return rows.map(toTokenInfo);
  }

  /** Removes a token. Idempotent. */
  async revokeApiToken(userId: string, tokenId: string): Promise<void> {
    await this.db.deleteFrom('api_tokens').where('id', '=', tokenId).where('user_id', '=', userId).execute();
  }

  /** Resolves a presented secret to its token and owner; undefined when unknown or expired. */
  async authenticate(secret: string): Promise<Authenticated | undefined> {
    if (!looksLikeTokenSecret(secret)) return undefined;
    const row = await this.db
      .selectFrom('api_tokens')
      .innerJoin('users', 'users.id', 'api_tokens.user_id')
      .selectAll('api_tokens')
      .select(['users.name as user_name', 'users.is_admin as user_is_admin'])
      .where('api_tokens.token_hash', '=', hashTokenSecret(secret))
      .executeTakeFirst();
    const now = Date.now();
    if (!row || (row.expires_at !== null && row.expires_at <= now)) return undefined;
    if (row.last_used_at === null || now - row.last_used_at > lastUsedResolutionMs) {
      await this.db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
    }
    return {
      user: { id: row.user_id, name: row.user_name, isAdmin: row.user_is_admin === 1 },
      token: toTokenInfo(row),
    };
  }

  async findApiToken(tokenId: string): Promise<(ApiTokenInfo & { userId: string }) | undefined> {
    const row = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', tokenId).executeTakeFirst();
    return row && { ...toTokenInfo(row), userId: row.user_id };
  }

  async findUserById(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { id: row.id, name: row.name, isAdmin: row.is_admin === 1 };
  }

  private async organizationId(name: string): Promise<string> {
    const row = await this.db.selectFrom('organizations').select('id').where('name', '=', name).executeTakeFirst();
    if (!row) throw new IdentityError('NOT_FOUND', `no organization "${name}"`);
    return row.id;
  }

  private async insertOrConflict<T>(message: string, insert: () => Promise<T>): Promise<T> {
    try {
      return await insert();
    } catch (error) {
      if (isUniqueViolation(error)) throw new IdentityError('CONFLICT', message);
      throw error;
    }
  }
}

function newRegistryId(): string {
  return String(randomInt(1, 10)) + String(randomInt(0, 100_000_000_000)).padStart(11, '0');
}

function toWorkspace(row: { id: string; slug: string; registry_id: string; organization_id: string | null; personal_user_id: string | null }): Workspace {
  return {
    id: row.id,
    slug: row.slug,
    registryId: row.registry_id,
    organizationId: row.organization_id,
    personalUserId: row.personal_user_id,
  };
}

function toTokenInfo(row: { id: string; name: string; scopes: string; created_at: number; expires_at: number | null }): ApiTokenInfo {
  return {
    id: row.id,
    name: row.name,
    scopes: JSON.parse(row.scopes) as TokenScope[],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
