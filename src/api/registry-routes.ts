import { z } from 'zod';
import type { IdentityStore } from '../identity/identity-store.ts';
import { roleAtLeast } from '../identity/roles.ts';
import { isRegistryError } from '../registry/errors.ts';
import type { GarbageCollector } from '../registry/garbage-collector.ts';
import { parseRepositoryName } from '../registry/names.ts';
import type { RepositoryIndex } from '../registry/repository-index.ts';
import type { RegistryConfig } from '../config/schema.ts';
import { ApiError, readJson, requireSystemAdmin, sendJson } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';

const repositorySettings = z.object({ public: z.boolean() }).strict();
const gcRequest = z.object({ dryRun: z.boolean().optional(), graceS: z.number().int().min(0).optional() }).strict();

/** Registry administration: repository visibility and garbage collection. */
export function registryRoutes(deps: {
  identity: IdentityStore;
  index: RepositoryIndex;
  gc: GarbageCollector;
  config: RegistryConfig;
}): ApiRoute[] {
  return [
    {
      method: 'PATCH',
      pattern: /^\/api\/registry\/repositories\/(.+)$/,
      handler: async (ctx) => {
        const name = (() => {
          try {
            return parseRepositoryName(ctx.params[0]!);
          } catch (error) {
            if (isRegistryError(error)) throw new ApiError(400, 'INVALID_NAME', error.message);
            throw error;
          }
        })();
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
