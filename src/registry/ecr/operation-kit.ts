import { z } from 'zod';
import type { IdentityStore, User, Workspace } from '../../identity/identity-store.ts';
import { roleAtLeast, type Role } from '../../identity/roles.ts';
import type { RegistryAccess } from '../auth/access.ts';
import type { CredentialRef } from '../auth/registry-tokens.ts';
import { isValidName, parseRepositoryName, type RepositoryName } from '../names.ts';
import type { Repository, RepositoryIndex } from '../repository-index.ts';
import { EcrError } from './ecr-errors.ts';

/** Who calls the ECR API: a user acting in one workspace, from a region, reaching us at `host`. */
export interface EcrCaller {
  user: User;
  workspace: Workspace;
  region: string;
  /** host[:port] clients use for the registry (repositoryUri). */
  host: string;
  /** The access key or API token the request was made with. */
  credential: CredentialRef;
}

export type EcrOperation = (input: Record<string, unknown>, caller: EcrCaller) => Promise<unknown>;
export type EcrOperations = Record<string, EcrOperation>;

/** Validates an operation's input; failures name the field as AWS does. */
export function parseInput<T extends z.ZodType>(schema: T, input: Record<string, unknown>): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.join('.') || 'input';
  throw new EcrError('InvalidParameterException', `Invalid parameter at '${field}' failed to satisfy constraint: '${issue.message}'`);
}

/** ECR's repository name grammar, relative to the registry (workspace). */
export const repositoryNameSchema = z
  .string()
  .min(2)
  .max(256)
  .regex(/^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/, 'must satisfy regular expression pattern (?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*');
export const registryIdSchema = z.string().regex(/^[0-9]{12}$/, 'must be a 12-digit registry id').optional();
export const maxResultsSchema = (max: number) => z.number().int().min(1).max(max).optional();
export const nextTokenSchema = z.string().max(2048).optional();

export const epochSeconds = (ms: number): number => ms / 1000;

/** Opaque paging tokens: the offset into a stable ordering. */
export function page<T>(items: T[], maxResults: number | undefined, nextToken: string | undefined, limit = 1000): { items: T[]; nextToken?: string } {
  const offset = nextToken ? decodeToken(nextToken) : 0;
  const size = maxResults ?? limit;
  const slice = items.slice(offset, offset + size);
  const more = offset + size < items.length;
  return { items: slice, ...(more ? { nextToken: Buffer.from(JSON.stringify({ o: offset + size })).toString('base64url') } : {}) };
}

function decodeToken(token: string): number {
  try {
    const offset = (JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown }).o;
    if (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) return offset;
  } catch {
    // fall through
  }
  throw new EcrError('InvalidParameterException', 'Invalid parameter at \'nextToken\': the token is not one this API issued');
}

export type Need = 'read' | 'write' | 'admin';
const minimumRole: Record<Need, Role> = { read: 'view', write: 'maintain', admin: 'admin' };

/**
 * Resolves the registry (workspace) and repository an operation addresses and checks the caller
 * may do what it needs there: read (view+), write (maintain+), admin (admin+). Reads of images in
 * another workspace may also be granted by that repository's policy (`pullByPolicy`).
 */
export class EcrScope {
  constructor(
    private readonly identity: IdentityStore,
    private readonly index: RepositoryIndex,
    private readonly access: RegistryAccess,
  ) {}

  async workspace(caller: EcrCaller, registryId: string | undefined, need: Need): Promise<Workspace> {
    const workspace = await this.target(caller, registryId);
    if (!(await this.hasRole(caller, workspace, need))) throw denied(caller, need, workspace.slug);
    return workspace;
  }

  async repository(caller: EcrCaller, registryId: string | undefined, name: string, need: Need, options: { pullByPolicy?: boolean } = {}): Promise<Repository> {
    const workspace = await this.target(caller, registryId);
    const full = this.fullName(workspace, name);
    const allowed =
      (await this.hasRole(caller, workspace, need)) ||
      (options.pullByPolicy === true && (await this.access.allowedActions({ user: caller.user, scopes: ['*'] }, full)).has('pull'));
    if (!allowed) throw denied(caller, need, full.full);
    const repository = await this.index.find(workspace.id, name);
    if (!repository) throw notFound(name, workspace);
    return repository;
  }

  fullName(workspace: Workspace, name: string): RepositoryName {
    const full = `${workspace.slug}/${name}`;
    if (!isValidName(full)) throw new EcrError('InvalidParameterException', `Invalid parameter at 'repositoryName': "${name.slice(0, 256)}" is not a valid repository name`);
    return parseRepositoryName(full);
  }

  private async target(caller: EcrCaller, registryId: string | undefined): Promise<Workspace> {
    if (!registryId || registryId === caller.workspace.registryId) return caller.workspace;
    const workspace = await this.identity.findWorkspaceByRegistryId(registryId);
    if (!workspace) throw new EcrError('InvalidParameterException', `Invalid parameter at 'registryId': no registry ${registryId}`);
    return workspace;
  }

  private async hasRole(caller: EcrCaller, workspace: Workspace, need: Need): Promise<boolean> {
    if (caller.user.isAdmin) return true;
    return roleAtLeast(await this.identity.roleOf(caller.user.id, workspace.id), minimumRole[need]);
  }
}

export function notFound(name: string, workspace: Workspace): EcrError {
  return new EcrError('RepositoryNotFoundException', `The repository with name '${name}' does not exist in the registry with id '${workspace.registryId}'`);
}

function denied(caller: EcrCaller, need: Need, resource: string): EcrError {
  return new EcrError('AccessDeniedException', `User ${caller.user.name} is not authorized to ${need === 'read' ? 'read' : 'change'} ${resource}: it needs the ${minimumRole[need]} role or higher`);
}
