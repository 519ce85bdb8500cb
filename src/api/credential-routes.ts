import { z } from 'zod';
import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import type { Role } from '../identity/roles.ts';
import { isRegistryError } from '../registry/errors.ts';
import { credentialProviders, newCredentialSchema, type CredentialRecord, type Credentials } from '../registry/management/credentials.ts';
import { ApiError, readJson, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';
import { requireWorkspaceRole, workspaceOfRequest } from './org-routes.ts';

const createRequest = z.object({ credentials: newCredentialSchema }).strict();
const updateRequest = z
  .object({
    credentials: z
      .object({ name: z.string().optional(), provider: z.enum(credentialProviders).optional(), keys: z.record(z.string(), z.string()) })
      .strict(),
  })
  .strict();

/** A credential as the API shows it: never a secret. */
export function credentialView(record: CredentialRecord) {
  return {
    id: record.id,
    name: record.name,
    provider: record.provider,
    keys: record.keys,
    dateCreated: new Date(record.createdAt).toISOString(),
    lastUpdated: new Date(record.updatedAt).toISOString(),
  };
}

/**
 * `/api/credentials`: a workspace's credentials (container registry, AWS, GitHub) by id. `?workspaceId=`
 * takes the workspace's id or slug (default: the caller's personal workspace). Reading takes the view role,
 * writing maintain; secrets go in and never come out.
 */
export function credentialRoutes(deps: { identity: IdentityStore; credentials: Credentials }): ApiRoute[] {
  const { identity, credentials } = deps;

  /** The credential a path names, in the workspace the query names (else its own), once the caller may act on it. */
  const credentialFor = async (ctx: ApiContext, minimum: Role): Promise<{ workspace: Workspace; record: CredentialRecord }> => {
    const id = ctx.params[0]!;
    const named = ctx.url.searchParams.get('workspaceId');
    const workspace = named ? await identity.requireWorkspaceByRef(named) : await workspaceOfCredential(id);
    const record = workspace && (await credentials.get(id, workspace.id));
    // Those with no role in the workspace learn nothing of its credentials, not even that an id exists.
    if (!workspace || !record || !(ctx.caller.user.isAdmin || (await identity.roleOf(ctx.caller.user.id, workspace.id)))) {
      throw new ApiError(404, 'NOT_FOUND', `no credentials with id "${id.slice(0, 100)}"`);
    }
    await requireWorkspaceRole(identity, ctx, workspace, minimum, minimum === 'view' ? 'see its credentials' : 'change its credentials');
    return { workspace, record };
  };
  const workspaceOfCredential = async (id: string) => {
    const record = await credentials.get(id);
    return record && identity.findWorkspaceById(record.workspaceId);
  };

  return [
    {
      method: 'GET',
      pattern: /^\/api\/credentials$/,
      handler: async (ctx) => {
        const workspace = await workspaceOfRequest(identity, ctx);
        await requireWorkspaceRole(identity, ctx, workspace, 'view', 'see its credentials');
        sendJson(ctx.res, 200, { credentials: (await credentials.records(workspace.id)).map(credentialView) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/credentials$/,
      handler: async (ctx) => {
        const workspace = await workspaceOfRequest(identity, ctx);
        await requireWorkspaceRole(identity, ctx, workspace, 'maintain', 'add credentials');
        const body = await readJson(ctx, createRequest);
        const record = await translated(() => credentials.create(workspace, body.credentials));
        sendJson(ctx.res, 201, { credentialsId: record.id });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/credentials\/([^/]+)$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { credentials: credentialView((await credentialFor(ctx, 'view')).record) }),
    },
    {
      method: 'PUT',
      pattern: /^\/api\/credentials\/([^/]+)$/,
      handler: async (ctx) => {
        const { workspace, record } = await credentialFor(ctx, 'maintain');
        const { credentials: change } = await readJson(ctx, updateRequest);
        if (change.name !== undefined && change.name !== record.name) {
          throw new ApiError(400, 'INVALID_REQUEST', 'credentials.name: a credential keeps its name (compute environments and cache rules refer to it by name); add a new one instead');
        }
        if (change.provider !== undefined && change.provider !== record.provider) {
          throw new ApiError(400, 'INVALID_REQUEST', `credentials.provider: a credential keeps its provider (${record.provider})`);
        }
        const updated = await translated(() => credentials.update(workspace.id, record.id, { keys: change.keys }));
        sendJson(ctx.res, 200, { credentials: credentialView(updated) });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/credentials\/([^/]+)$/,
      handler: async (ctx) => {
        const { workspace, record } = await credentialFor(ctx, 'maintain');
        await credentials.deleteById(workspace.id, record.id);
        ctx.res.writeHead(204).end();
      },
    },
  ];
}

/** The store's failures in this API's words: INVALID_REQUEST naming the field, CONFLICT for a taken name, NOT_FOUND. */
async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isRegistryError(error, 'InvalidParameter')) {
      const detail = error.detail as { conflict?: boolean; field?: string } | undefined;
      if (detail?.conflict) throw new ApiError(409, 'CONFLICT', error.message);
      throw new ApiError(400, 'INVALID_REQUEST', detail?.field ? `credentials.${error.message}` : error.message);
    }
    if (isRegistryError(error, 'CredentialNotFound')) throw new ApiError(404, 'NOT_FOUND', error.message);
    throw error;
  }
}

