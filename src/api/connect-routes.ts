import { z } from 'zod';
import type { ConnectSession, ConnectSessions } from '../connect/connect-sessions.ts';
import type { StudioRouting } from '../connect/proxy/studio-routing.ts';
import type { TunnelHub } from '../connect/tunnel/tunnel-hub.ts';
import type { IdentityStore, User } from '../identity/identity-store.ts';
import { roleAtLeast } from '../identity/roles.ts';
import { ApiError, readJson, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';

const creation = z.object({ workspace: z.string().min(1).max(64).optional(), private: z.boolean().optional() }).strict();

/**
 * Connect sessions as such: what an agent attaches to and a user opens. The studios part creates them
 * for each session run; this API serves operators and scripts that run an agent by hand. The agent
 * token is shown once, at creation.
 */
export function connectRoutes(deps: { sessions: ConnectSessions; identity: IdentityStore; routing: StudioRouting; hub: TunnelHub; connectUrl: (ctx: ApiContext) => string }): ApiRoute[] {
  const { sessions, identity, routing, hub } = deps;

  const view = async (ctx: ApiContext, session: ConnectSession) => ({
    ...session,
    connected: (await hub.holderOf(session.id).catch(() => undefined)) !== undefined,
    studioUrl: routing.studioUrl(session.id, routing.platformBase(ctx.req)),
  });

  const readable = async (ctx: ApiContext): Promise<ConnectSession> => {
    const session = await sessions.find(ctx.params[0]!);
    if (!session || !(await mayManageOrConnect(session, ctx.caller.user))) throw new ApiError(404, 'NOT_FOUND', `session ${ctx.params[0]!.slice(0, 64)} does not exist`);
    return session;
  };

  const mayManageOrConnect = async (session: ConnectSession, user: User) =>
    (await sessions.mayConnect(session, user)) || (await mayManage(session, user));

  const mayManage = async (session: ConnectSession, user: User) =>
    session.userId === user.id || user.isAdmin || roleAtLeast(await identity.roleOf(user.id, session.workspaceId), 'maintain');

  return [
    {
      method: 'POST',
      pattern: /^\/api\/connect\/sessions$/,
      handler: async (ctx) => {
        const input = await readJson(ctx, creation);
        const workspace = await identity.requireWorkspace(input.workspace ?? ctx.caller.user.name);
        const { user } = ctx.caller;
        if (!user.isAdmin && !roleAtLeast(await identity.roleOf(user.id, workspace.id), 'launch')) {
          throw new ApiError(403, 'FORBIDDEN', `only members of ${workspace.slug} with the launch role or above may start sessions there`);
        }
        const { session, agentToken } = await sessions.create({ workspace, user, isPrivate: input.private ?? false });
        const env: Record<string, string> = { BERTH_CONNECT_URL: deps.connectUrl(ctx), BERTH_SESSION_ID: session.id, BERTH_SESSION_TOKEN: agentToken };
        if (routing.pathRouting) env.CONNECT_TOOL_PATH_PREFIX = routing.toolPathPrefix(session.id);
        sendJson(ctx.res, 201, { session: await view(ctx, session), agentToken, studioUrl: routing.studioUrl(session.id, routing.platformBase(ctx.req)), env });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/connect\/sessions$/,
      handler: async (ctx) => {
        const workspace = await identity.requireWorkspace(ctx.url.searchParams.get('workspace') ?? ctx.caller.user.name);
        const visible: ConnectSession[] = [];
        for (const session of await sessions.listInWorkspace(workspace.id)) {
          if (await mayManageOrConnect(session, ctx.caller.user)) visible.push(session);
        }
        sendJson(ctx.res, 200, { sessions: await Promise.all(visible.map((session) => view(ctx, session))) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/connect\/sessions\/([^/]+)$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { session: await view(ctx, await readable(ctx)) }),
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/connect\/sessions\/([^/]+)$/,
      handler: async (ctx) => {
        const session = await readable(ctx);
        if (!(await mayManage(session, ctx.caller.user))) {
          throw new ApiError(403, 'FORBIDDEN', `only the session's creator or a maintainer of its workspace may delete session ${session.id}`);
        }
        await sessions.remove(session.id);
        hub.disconnect(session.id);
        ctx.res.writeHead(204).end();
      },
    },
  ];
}
