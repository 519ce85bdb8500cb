import { z } from 'zod';
import { tokenScopes } from '../identity/api-tokens.ts';
import type { AccessKeys } from '../identity/access-keys.ts';
import type { IdentityStore, User } from '../identity/identity-store.ts';
import { roles } from '../identity/roles.ts';
import { ApiError, readJson, requireSystemAdmin, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';
import { organizationToAddWorkspaceTo } from './org-routes.ts';

const newUser = z.object({ name: z.string(), admin: z.boolean().optional() }).strict();
const newToken = z
  .object({
    name: z.string().min(1).max(100),
    scopes: z.array(z.enum(tokenScopes)).optional(),
    expiresInS: z.number().int().positive().optional(),
  })
  .strict();
const newWorkspace = z.object({ slug: z.string(), organization: z.string().optional() }).strict();
const newOrganization = z.object({ name: z.string() }).strict();
const membership = z.object({ role: z.enum(roles) }).strict();
const newAccessKey = z.object({ workspace: z.string().optional() }).strict();

/** Users, API tokens, organizations, workspaces and memberships. */
export function identityRoutes(identity: IdentityStore, accessKeys: AccessKeys): ApiRoute[] {
  /** The user a path names, allowed for themselves or a system admin. */
  const userFor = async (ctx: ApiContext, name: string): Promise<User> => {
    if (name === ctx.caller.user.name) return ctx.caller.user;
    requireSystemAdmin(ctx);
    return identity.requireUser(name);
  };
  const workspaceAdmin = async (ctx: ApiContext, slug: string) => {
    const workspace = await identity.requireWorkspace(slug);
    const role = await identity.roleOf(ctx.caller.user.id, workspace.id);
    if (!ctx.caller.user.isAdmin && role !== 'owner' && role !== 'admin') {
      throw new ApiError(403, 'FORBIDDEN', `only an owner or admin of ${slug} may manage its members`);
    }
    return workspace;
  };

  return [
    {
      method: 'POST',
      pattern: /^\/api\/access-keys$/,
      handler: async (ctx) => {
        const body = await readJson(ctx, newAccessKey);
        const workspace = await identity.requireWorkspace(body.workspace ?? ctx.caller.user.name);
        sendJson(ctx.res, 201, { ...(await accessKeys.create(ctx.caller.user, workspace)), workspace: workspace.slug, registryId: workspace.registryId });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/access-keys$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { accessKeys: await accessKeys.list(ctx.caller.user.id) }),
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/access-keys\/([^/]+)$/,
      handler: async (ctx) => {
        await accessKeys.delete(ctx.caller.user.id, ctx.params[0]!);
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/me$/,
      handler: async (ctx) => {
        const workspaces = await identity.workspacesOf(ctx.caller.user.id);
        sendJson(ctx.res, 200, { user: ctx.caller.user, token: ctx.caller.token, workspaces });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/users$/,
      handler: async (ctx) => {
        requireSystemAdmin(ctx);
        sendJson(ctx.res, 200, { users: await identity.listUsers() });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/users$/,
      handler: async (ctx) => {
        requireSystemAdmin(ctx);
        const body = await readJson(ctx, newUser);
        sendJson(ctx.res, 201, { user: await identity.createUser({ name: body.name, isAdmin: body.admin }) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/users\/([^/]+)\/tokens$/,
      handler: async (ctx) => {
        const user = await userFor(ctx, ctx.params[0]!);
        sendJson(ctx.res, 200, { tokens: await identity.listApiTokens(user.id) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/users\/([^/]+)\/tokens$/,
      handler: async (ctx) => {
        const user = await userFor(ctx, ctx.params[0]!);
        const body = await readJson(ctx, newToken);
        const expiresAt = body.expiresInS ? Date.now() + body.expiresInS * 1000 : null;
        const { token, secret } = await identity.createApiToken(user, { name: body.name, scopes: body.scopes, expiresAt });
        sendJson(ctx.res, 201, { token, secret });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/users\/([^/]+)\/tokens\/([^/]+)$/,
      handler: async (ctx) => {
        const user = await userFor(ctx, ctx.params[0]!);
        await identity.revokeApiToken(user.id, ctx.params[1]!);
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/organizations$/,
      handler: async (ctx) => {
        requireSystemAdmin(ctx);
        const body = await readJson(ctx, newOrganization);
        sendJson(ctx.res, 201, { organization: await identity.createOrganization(body.name) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/workspaces$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { workspaces: await identity.workspacesOf(ctx.caller.user.id) }),
    },
    {
      method: 'POST',
      pattern: /^\/api\/workspaces$/,
      handler: async (ctx) => {
        const body = await readJson(ctx, newWorkspace);
        const organization = body.organization === undefined ? undefined : await organizationToAddWorkspaceTo(identity, ctx, body.organization);
        const workspace = await identity.createWorkspace({ slug: body.slug, organization: organization?.name, owner: ctx.caller.user });
        sendJson(ctx.res, 201, { workspace });
      },
    },
    {
      method: 'PUT',
      pattern: /^\/api\/workspaces\/([^/]+)\/members\/([^/]+)$/,
      handler: async (ctx) => {
        const workspace = await workspaceAdmin(ctx, ctx.params[0]!);
        const user = await identity.requireUser(ctx.params[1]!);
        const { role } = await readJson(ctx, membership);
        await identity.setRole(workspace.id, user.id, role);
        sendJson(ctx.res, 200, { workspace: workspace.slug, user: user.name, role });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/workspaces\/([^/]+)\/members\/([^/]+)$/,
      handler: async (ctx) => {
        const workspace = await workspaceAdmin(ctx, ctx.params[0]!);
        const user = await identity.requireUser(ctx.params[1]!);
        await identity.setRole(workspace.id, user.id, undefined);
        ctx.res.writeHead(204).end();
      },
    },
  ];
}
