import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import type { TemplateCatalog } from '../studios/templates/templates.ts';
import { StudiosDisabledError } from '../studios/workspaces/studios-access.ts';
import { ApiError, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';
import { requireWorkspaceRole, workspaceOfRequest } from './org-routes.ts';

const defaultPageSize = 100;
const maxPageSize = 1000;

/**
 * `GET /api/studios/templates?workspaceId=&max=&offset=`: the template images studios of a workspace may
 * use, `{templates:[{repository, icon, status, tool}], totalSize}`. Takes the view role in a workspace
 * that may use Studios.
 */
export function templateRoutes(deps: { identity: IdentityStore; catalog: TemplateCatalog; studiosAllowed: (workspace: Workspace) => boolean }): ApiRoute[] {
  const { identity, catalog } = deps;
  return [
    {
      method: 'GET',
      pattern: /^\/api\/studios\/templates$/,
      handler: async (ctx) => {
        const workspace = await workspaceOfRequest(identity, ctx);
        await requireWorkspaceRole(identity, ctx, workspace, 'view', 'see its studio templates');
        if (!deps.studiosAllowed(workspace)) throw new StudiosDisabledError(workspace.slug);
        const templates = catalog.listFor(workspace);
        const { max, offset } = pageOf(ctx);
        sendJson(ctx.res, 200, { templates: templates.slice(offset, offset + max), totalSize: templates.length });
      },
    },
  ];
}

/** `max` and `offset` query parameters: whole numbers, `max` at most 1000. */
export function pageOf(ctx: ApiContext): { max: number; offset: number } {
  return { max: wholeNumber(ctx, 'max', defaultPageSize, maxPageSize), offset: wholeNumber(ctx, 'offset', 0, Number.MAX_SAFE_INTEGER) };
}

function wholeNumber(ctx: ApiContext, name: string, fallback: number, limit: number): number {
  const raw = ctx.url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) > limit) throw new ApiError(400, 'INVALID_REQUEST', `${name}: must be a whole number from 0 to ${limit}`);
  return Number(raw);
}
