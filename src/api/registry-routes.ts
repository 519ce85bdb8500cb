import { z } from 'zod';
import type { IdentityStore } from '../identity/identity-store.ts';
import { roleAtLeast } from '../identity/roles.ts';
import { isRegistryError } from '../registry/errors.ts';
import type { GarbageCollector } from '../registry/garbage-collector.ts';
import type { Lifecycle } from '../registry/management/lifecycle.ts';
import type { Credentials } from '../registry/management/credentials.ts';
import { parseRepositoryName } from '../registry/names.ts';
import type { RepositoryIndex } from '../registry/repository-index.ts';
import type { RegistryConfig } from '../config/schema.ts';
import { ApiError, readJson, requireSystemAdmin, sendJson } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';

const newCredential = z.object({ name: z.string().min(1).max(512), username: z.string().max(512).optional(), secret: z.string().min(1).max(8192) }).strict();
const repositorySettings = z.object({ public: z.boolean() }).strict();
const lifecycleRequest = z.object({ repository: z.string().optional(), dryRun: z.boolean().optional() }).strict();
const gcRequest = z.object({ dryRun: z.boolean().optional(), graceS: z.number().int().min(0).optional() }).strict();

/** Registry administration: repository visibility and garbage collection. */
export function registryRoutes(deps: {
  identity: IdentityStore;
  index: RepositoryIndex;
  gc: GarbageCollector;
  lifecycle: Lifecycle;
  credentials: Credentials;
  config: RegistryConfig;
}): ApiRoute[] {
  const workspaceAdmin = async (ctx: Parameters<ApiRoute['handler']>[0], slug: string) => {
    const workspace = await deps.identity.requireWorkspace(slug);
    if (!ctx.caller.user.isAdmin && !roleAtLeast(await deps.identity.roleOf(ctx.caller.user.id, workspace.id), 'admin')) {
      throw new ApiError(403, 'FORBIDDEN', `only an admin of ${workspace.slug} may manage its credentials`);
    }
    return workspace;
  };
  return [
    {
      method: 'POST',
      pattern: /^\/api\/workspaces\/([^/]+)\/credentials$/,
      handler: async (ctx) => {
        const workspace = await workspaceAdmin(ctx, ctx.params[0]!);
        const body = await readJson(ctx, newCredential);
        sendJson(ctx.res, 201, { credential: await deps.credentials.put(workspace, body) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/workspaces\/([^/]+)\/credentials$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { credentials: await deps.credentials.list(await workspaceAdmin(ctx, ctx.params[0]!)) }),
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/workspaces\/([^/]+)\/credentials\/(.+)$/,
      handler: async (ctx) => {
        await deps.credentials.delete(await workspaceAdmin(ctx, ctx.params[0]!), ctx.params[1]!);
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: 'PATCH',
      pattern: /^\/api\/registry\/repositories\/(.+)$/,
      handler: async (ctx) => {
        const name = parseName(ctx.params[0]!);
        const workspace = await deps.identity.requireWorkspace(name.workspace);
        const role = await deps.identity.roleOf(ctx.caller.user.id, workspace.id);
        if (!ctx.caller.user.isAdmin && !roleAtLeast(role, 'admin')) {
          throw new ApiError(403, 'FORBIDDEN', `only an admin of ${workspace.slug} may change repository visibility`);
        }
        const body = await readJson(ctx, repositorySettings);
        const repository = await deps.index.ensure(workspace.id, name.path);
        await deps.index.setPublic(repository.id, body.public);
        sendJson(ctx.res, 200, { repository: name.full, public: body.public });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/registry\/lifecycle\/run$/,
      handler: async (ctx) => {
        const body = await readJson(ctx, lifecycleRequest);
        if (!body.repository) {
          requireSystemAdmin(ctx);
          return sendJson(ctx.res, 200, await deps.lifecycle.run({ dryRun: body.dryRun }));
        }
        const name = parseName(body.repository);
        const workspace = await deps.identity.requireWorkspace(name.workspace);
        if (!ctx.caller.user.isAdmin && !roleAtLeast(await deps.identity.roleOf(ctx.caller.user.id, workspace.id), 'admin')) {
          throw new ApiError(403, 'FORBIDDEN', `only an admin of ${workspace.slug} may run its lifecycle policies`);
        }
        const repository = await deps.index.find(workspace.id, name.path);
        if (!repository) throw new ApiError(404, 'NOT_FOUND', `no repository ${name.full}`);
        sendJson(ctx.res, 200, await deps.lifecycle.run({ repositories: [{ ...repository, fullName: name.full }], dryRun: body.dryRun }));
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/registry\/gc$/,
      handler: async (ctx) => {
        requireSystemAdmin(ctx);
        const body = await readJson(ctx, gcRequest);
        const report = await deps.gc.collect({
          graceMs: (body.graceS ?? deps.config.gcGraceS) * 1000,
          uploadExpiryMs: deps.config.uploadExpiryS * 1000,
          dryRun: body.dryRun,
        });
        sendJson(ctx.res, 200, report);
      },
    },
  ];
}

function parseName(full: string) {
  try {
    return parseRepositoryName(full);
  } catch (error) {
    if (isRegistryError(error)) throw new ApiError(400, 'INVALID_NAME', error.message);
    throw error;
  }
}
