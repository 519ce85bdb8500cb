import { z } from 'zod';
import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import type { Role } from '../identity/roles.ts';
import type { Credentials } from '../registry/management/credentials.ts';
import { ComputeEnvError, type ComputeEnv, type ComputeEnvs } from '../studios/compute/compute-envs.ts';
import { ApiError, readJson, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';
import { requireWorkspaceRole, workspaceOfRequest } from './org-routes.ts';

/** The envelope is checked here; its content by the store, which names the field of any problem. */
const createRequest = z.object({ computeEnv: z.record(z.string(), z.unknown(), { error: 'must be {name, platform, config, credentialsId?}' }) }).strict();

/** A compute environment as the API shows it; its credential by id (null once the credential was deleted). */
export function computeEnvView(env: ComputeEnv, credentialsId: string | null) {
  return {
    id: env.id,
    name: env.name,
    platform: env.platform,
    config: env.config,
    credentialsId,
    credentialsName: env.credentialName,
    status: env.status,
    message: env.statusReason,
    lastChecked: env.checkedAt === null ? null : new Date(env.checkedAt).toISOString(),
    dateCreated: new Date(env.createdAt).toISOString(),
    lastUpdated: new Date(env.updatedAt).toISOString(),
    workspaceId: env.workspaceId,
  };
}

/**
 * `/api/compute-envs`: where a workspace's sessions run. `?workspaceId=` takes the workspace's id or slug
 * (default: the caller's personal workspace). Listing and reading take the view role; adding, deleting and
 * re-checking take maintain.
 */
export function computeEnvRoutes(deps: { identity: IdentityStore; computeEnvs: ComputeEnvs; credentials: Credentials }): ApiRoute[] {
  const { identity, computeEnvs, credentials } = deps;

  const view = async (env: ComputeEnv) => {
    const credential = env.credentialName === null ? undefined : await credentials.findByName(env.workspaceId, env.credentialName);
    return computeEnvView(env, credential?.id ?? null);
  };

  /** The environment a path names, in the workspace the query names (else its own), once the caller may act on it. */
  const computeEnvFor = async (ctx: ApiContext, minimum: Role, doing: string): Promise<{ workspace: Workspace; env: ComputeEnv }> => {
    const id = ctx.params[0]!;
    const named = ctx.url.searchParams.get('workspaceId');
    const workspace = named ? await identity.requireWorkspaceByRef(named) : await workspaceOfEnv(id);
    const env = workspace && (await computeEnvs.get(id, workspace.id));
    // Those with no role in the workspace learn nothing of its environments, not even that an id exists.
    if (!workspace || !env || !(ctx.caller.user.isAdmin || (await identity.roleOf(ctx.caller.user.id, workspace.id)))) {
      throw new ApiError(404, 'NOT_FOUND', `no compute environment with id "${id.slice(0, 100)}"`);
    }
    await requireWorkspaceRole(identity, ctx, workspace, minimum, doing);
    return { workspace, env };
  };
  const workspaceOfEnv = async (id: string) => {
    const env = await computeEnvs.get(id);
    return env && identity.findWorkspaceById(env.workspaceId);
  };

  return [
    {
      method: 'GET',
      pattern: /^\/api\/compute-envs$/,
      handler: async (ctx) => {
        const workspace = await workspaceOfRequest(identity, ctx);
        await requireWorkspaceRole(identity, ctx, workspace, 'view', 'see its compute environments');
        const envs = await computeEnvs.list(workspace.id);
        sendJson(ctx.res, 200, { computeEnvs: await Promise.all(envs.map(view)) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/compute-envs$/,
      handler: async (ctx) => {
        const workspace = await workspaceOfRequest(identity, ctx);
        await requireWorkspaceRole(identity, ctx, workspace, 'maintain', 'add compute environments');
        const body = await readJson(ctx, createRequest);
        if ((body.computeEnv as { platform?: unknown } | undefined)?.platform === 'local' && !ctx.caller.user.isAdmin) {
          // its sessions run as Berth's own user on Berth's host, with access to its files (keys, database)
          throw new ApiError(403, 'FORBIDDEN', "a local compute environment runs sessions as Berth's own user on its host: only a system administrator may add one");
        }
        const env = await translated(() => computeEnvs.create(workspace, body.computeEnv, ctx.caller.user.id));
        sendJson(ctx.res, 201, { computeEnvId: env.id, computeEnv: await view(env) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/compute-envs\/([^/]+)$/,
      handler: async (ctx) => {
        const { env } = await computeEnvFor(ctx, 'view', 'see its compute environments');
        sendJson(ctx.res, 200, { computeEnv: await view(env) });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/compute-envs\/([^/]+)$/,
      handler: async (ctx) => {
        const { env } = await computeEnvFor(ctx, 'maintain', 'delete compute environments');
        await translated(() => computeEnvs.delete(env));
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/compute-envs\/([^/]+)\/check$/,
      handler: async (ctx) => {
        const { env } = await computeEnvFor(ctx, 'maintain', 'check compute environments');
        sendJson(ctx.res, 200, { computeEnv: await view(await computeEnvs.recheck(env)) });
      },
    },
  ];
}

const statusOf: Record<ComputeEnvError['code'], number> = { INVALID: 400, NOT_FOUND: 404, CONFLICT: 409 };
const codeOf: Record<ComputeEnvError['code'], string> = { INVALID: 'INVALID_REQUEST', NOT_FOUND: 'NOT_FOUND', CONFLICT: 'CONFLICT' };

/** The store's failures in this API's words: INVALID_REQUEST naming the field under `computeEnv.`, CONFLICT, NOT_FOUND. */
async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!(error instanceof ComputeEnvError)) throw error;
    throw new ApiError(statusOf[error.code], codeOf[error.code], error.code === 'INVALID' ? `computeEnv.${error.message}` : error.message);
  }
}
