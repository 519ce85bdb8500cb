import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import type { Credentials } from '../registry/management/credentials.ts';
import { ApiError, type ApiContext } from './api-context.ts';

/**
 * Git repositories the API clones on a caller's behalf. Only `https://`: `file://` URLs and paths would let a
 * caller read the server's disk, and plain `http://` would reach services on the server's own network without
 * even TLS. Checking or building a local directory is what the CLI is for.
 */
export function httpsRepository(repository: string): string {
  let protocol: string;
  try {
    protocol = new URL(repository).protocol;
  } catch {
    throw new ApiError(400, 'INVALID_REQUEST', '`repository` must be an https:// URL of a git repository');
  }
  if (protocol !== 'https:') {
    throw new ApiError(
      400,
      'INVALID_REQUEST',
      `\`repository\` must be an https:// URL; the API does not clone ${protocol}// URLs or paths on the server (check a local repository with \`berth studio-config check\`)`,
    );
  }
  return repository;
}

/** A workspace the caller belongs to (default: their own), whose credentials they may use for a clone. */
export async function memberWorkspace(identity: IdentityStore, ctx: ApiContext, slug: string | undefined): Promise<Workspace> {
  const workspace = await identity.requireWorkspace(slug ?? ctx.caller.user.name);
  if (!ctx.caller.user.isAdmin && (await identity.roleOf(ctx.caller.user.id, workspace.id)) === undefined) {
    throw new ApiError(403, 'FORBIDDEN', `only members of ${workspace.slug} may use its credentials`);
  }
  return workspace;
}

/** The login a named credential of `workspace` holds, for git; none when no credential is named. */
export async function gitLogin(credentials: Credentials, workspace: Workspace, name: string | undefined): Promise<{ token: string | null; username: string | undefined }> {
  if (name === undefined) return { token: null, username: undefined };
  const login = await credentials.reveal(workspace.id, name);
  return { token: login.password, username: login.username || undefined };
}
