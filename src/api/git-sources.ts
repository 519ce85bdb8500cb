import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import type { Credentials } from '../registry/management/credentials.ts';
import { roleAtLeast } from '../identity/roles.ts';
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

/** A workspace in which the caller may launch (default: their own), whose credentials a clone may use. */
export async function memberWorkspace(identity: IdentityStore, ctx: ApiContext, slug: string | undefined): Promise<Workspace> {
  const workspace = await identity.requireWorkspace(slug ?? ctx.caller.user.name);
  if (!ctx.caller.user.isAdmin && !roleAtLeast(await identity.roleOf(ctx.caller.user.id, workspace.id), 'launch')) {
    throw new ApiError(403, 'FORBIDDEN', `only members of ${workspace.slug} with the launch role or above may use its credentials`);
  }
  return workspace;
}

/**
 * The login a credential of `workspace` holds, for a clone of `repository`; none when no credential is named.
 * A credential is named after the host it belongs to (`github.com`) and is sent to that host only, so that a
 * caller cannot have a secret sent to a server of their own.
 */
export async function gitLogin(
  credentials: Credentials,
  workspace: Workspace,
  repository: string,
  name: string | undefined,
): Promise<{ token: string | null; username: string | undefined }> {
  if (name === undefined) return { token: null, username: undefined };
  const host = new URL(repository).host;
  if (name !== host) {
    throw new ApiError(400, 'INVALID_REQUEST', `credential "${name.slice(0, 200)}" is not for ${host}: a git credential is named after its host and used only there`);
  }
  const login = await credentials.reveal(workspace.id, name);
  return { token: login.password, username: login.username || undefined };
}
