import type { Authenticated, IdentityStore } from '../../identity/identity-store.ts';
import { roleAtLeast } from '../../identity/roles.ts';
import type { BuildRecord } from './build-store.ts';
import type { BuildCaller } from './build-targets.ts';

/** Who may read a build, its log and its report: its requester, anyone who may view its workspace, an admin. */
export async function mayViewBuild(identity: IdentityStore, caller: Authenticated, record: BuildRecord): Promise<boolean> {
  if (caller.user.isAdmin || caller.user.id === record.userId) return true;
  return roleAtLeast(await identity.roleOf(caller.user.id, record.workspaceId), 'view');
}

/** Who may cancel a build: its requester, a maintainer of its workspace, an admin. */
export async function mayCancelBuild(identity: IdentityStore, caller: Authenticated, record: BuildRecord): Promise<boolean> {
  if (caller.user.isAdmin || caller.user.id === record.userId) return true;
  return roleAtLeast(await identity.roleOf(caller.user.id, record.workspaceId), 'maintain');
}

export function buildCallerOf(caller: Authenticated, host: string): BuildCaller {
  return { user: caller.user, credential: { kind: 'api-token', id: caller.token.id }, scopes: caller.token.scopes, host };
}

/** The largest request body a container request may have: the context inline as base64, and the rest. */
export function maxContainerRequestBytes(limits: { maxContextBytes: number; maxDockerfileBytes: number; maxCondaFileBytes: number }): number {
  return Math.ceil((limits.maxContextBytes * 4) / 3) + 2 * (limits.maxDockerfileBytes + limits.maxCondaFileBytes) + 64 * 1024;
}

/** A build as the APIs show it. */
export function buildView(record: BuildRecord): Record<string, unknown> {
  return {
    id: record.id,
    status: record.status,
    targetImage: record.targetImage,
    digest: record.digest,
    platform: record.platform,
    executor: record.executor,
    createdAt: new Date(record.createdAt).toISOString(),
    startedAt: record.startedAt === null ? null : new Date(record.startedAt).toISOString(),
    finishedAt: record.finishedAt === null ? null : new Date(record.finishedAt).toISOString(),
    durationS: record.startedAt !== null && record.finishedAt !== null ? (record.finishedAt - record.startedAt) / 1000 : null,
    exitStatus: record.exitStatus,
    errorReport: record.errorReport,
    dockerfile: record.dockerfile,
    condaFile: record.condaFile,
  };
}
