import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ApiRoute } from '../api/api-face.ts';
import { connectRoutes } from '../api/connect-routes.ts';
import type { AuthConfig, ConnectConfig, ServerConfig } from '../config/schema.ts';
import { ConnectSessions } from '../connect/connect-sessions.ts';
import { endSocketWithPage } from '../connect/proxy/pages.ts';
import { PlatformLogin } from '../connect/proxy/platform-login.ts';
import { StudioProxy } from '../connect/proxy/proxy.ts';
import { StudioAuth } from '../connect/proxy/studio-auth.ts';
import { StudioRouting } from '../connect/proxy/studio-routing.ts';
import { StudioTokens } from '../connect/proxy/studio-tokens.ts';
import { MemoryRouteStore } from '../connect/routes/memory-route-store.ts';
import type { RouteHolder, RouteStore } from '../connect/routes/route-store.ts';
import { TunnelHub } from '../connect/tunnel/tunnel-hub.ts';
import { tunnelPath } from '../connect/tunnel/tunnel-protocol.ts';
import type { OpenedDatabase } from '../db/database.ts';
import type { IdentityStore } from '../identity/identity-store.ts';
import { WebLogins } from '../identity/web-logins.ts';
import { externalBase } from '../http/request-base.ts';
import type { PeriodicJob } from './compose-registry.ts';
import type { Face } from './http-server.ts';

export interface ConnectPart {
  proxy: StudioProxy;
  /** `/login`, `/logout`, `/connect/authorize` on the platform's host. */
  login: Face;
  sessions: ConnectSessions;
  hub: TunnelHub;
  routing: StudioRouting;
  apiRoutes: ApiRoute[];
  jobs: PeriodicJob[];
  /** Every HTTP upgrade of the listener: agents' tunnels and studios' WebSockets. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;
  /** Ends tunnels and upgraded connections (the listener cannot close while they live); idempotent. */
  close: () => Promise<void>;
}

/**
 * The connect part: sessions, the route store (memory or Redis), the tunnels this server holds, the
 * studio proxy with its login round trip, and the connect API.
 */
export async function composeConnect(deps: {
  config: ConnectConfig;
  auth: AuthConfig;
  server: ServerConfig;
  dataDir: string;
  database: OpenedDatabase;
  identity: IdentityStore;
  /** `127.0.0.1:<port>` once listening. */
  internalHost: () => string;
  log: (line: string) => void;
}): Promise<ConnectPart> {
  const { config, identity, log } = deps;
  const routes = await openRouteStore(config);
  const serverId = randomUUID();
  const self = (): RouteHolder => ({ serverId, url: config.advertiseUrl ?? `http://${deps.internalHost()}` });
  const sessions = new ConnectSessions(deps.database.db, identity);
  const routing = new StudioRouting({ studioDomain: config.studioDomain, pathRouting: config.pathRouting, publicUrl: deps.server.publicUrl });
  const tokens = await StudioTokens.open(deps.dataDir);
  const useOnce = (key: string, ttlS: number) => routes.useOnce(key, ttlS);
  const secureCookies = deps.server.publicUrl?.startsWith('https:') ?? false;
  const auth = new StudioAuth({ sessions, identity, tokens, routing, useOnce, studioTokenTtlS: config.studioTokenTtlS, secureCookies });
  const hub = new TunnelHub({ routes, sessions, self, pingIntervalS: config.pingIntervalS, log });
  const proxy = new StudioProxy({ routing, findSession: (id) => sessions.findRecent(id), auth, hub, self, log, startWaitMs: config.startWaitS * 1000 });
  const webLogins = new WebLogins(deps.database.db);
  const login = new PlatformLogin({ identity, webLogins, sessions, tokens, routing, webLoginTtlS: deps.auth.webLoginTtlS, secureCookies });

  const upgraded = new Set<Duplex>();
  const upgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    const target = proxy.targetOf(req);
    if (target) return proxy.upgrade(req, socket, head, target);
    if (req.url?.split('?')[0] === tunnelPath) return hub.accept(req, socket as Socket, head);
    endSocketWithPage(socket, 404, 'Nothing to upgrade here', `${req.url?.slice(0, 200)} does not take protocol upgrades.`);
  };

  const apiRoutes = connectRoutes({ sessions, identity, routing, hub, connectUrl: (ctx) => externalBase(ctx.req, deps.server.publicUrl) });
  return {
    proxy,
    login,
    sessions,
    hub,
    routing,
    apiRoutes,
    jobs: [{ name: 'expired web login sweep', everyS: 3_600, run: () => webLogins.removeExpired() }],
    upgrade,
    close: once(async () => {
      await hub.close();
      for (const socket of upgraded) socket.destroy();
      await routes.close();
    }),
  };
}

/** The Redis client loads only when configured: a server with the in-memory store never pays for it. */
async function openRouteStore(config: ConnectConfig): Promise<RouteStore> {
  if (config.routeStore !== 'redis') return new MemoryRouteStore();
  const { RedisRouteStore } = await import('../connect/routes/redis-route-store.ts');
  return new RedisRouteStore({ url: config.redisUrl! });
}

function once(work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= work());
}
