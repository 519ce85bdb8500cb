import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ConnectSessions } from '../../../src/connect/connect-sessions.ts';
import { MemoryRouteStore } from '../../../src/connect/routes/memory-route-store.ts';
import { AgentTunnel } from '../../../src/connect/tunnel/agent-tunnel.ts';
import { TunnelHub } from '../../../src/connect/tunnel/tunnel-hub.ts';
import { IdentityStore } from '../../../src/identity/identity-store.ts';
import { databaseKinds, type TestDatabase } from '../../support/databases.ts';
import { eventually } from '../../support/waiting.ts';

describe('TunnelHub: routes of the tunnels it holds', () => {
  let database: TestDatabase;
  let routes: MemoryRouteStore;
  let hub: TunnelHub;
  let server: Server;
  let agent: AgentTunnel;
  let sessionId: string;
  const self = { serverId: 'replica-a', url: 'http://127.0.0.1:1' };

  before(async () => {
    database = await databaseKinds[0]!.open();
    const identity = new IdentityStore(database.opened.db);
    const sessions = new ConnectSessions(database.opened.db, identity);
    const owner = await identity.createUser({ name: 'hubowner' });
    const workspace = await identity.requireWorkspace('hubowner');
    const created = await sessions.create({ workspace, user: owner, isPrivate: false });
    sessionId = created.session.id;
    routes = new MemoryRouteStore();
    hub = new TunnelHub({ routes, sessions, self: () => self, pingIntervalS: 15, log: () => undefined, heartbeatMs: 100 });
    server = createServer().on('upgrade', (req, socket, head) => void hub.accept(req, socket as Socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    agent = new AgentTunnel({ connectUrl: url, sessionId, token: created.agentToken, toolPort: 1, log: () => undefined });
    agent.start();
    await eventually('the route', async () => (await routes.lookup(sessionId)) !== undefined, 5_000);
  });

  after(async () => {
    await agent?.close();
    await hub?.close();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await database?.cleanup();
  });

  it('publishes the route of a tunnel it accepts', async () => {
    assert.deepEqual(await routes.lookup(sessionId), self);
    assert.ok(hub.local(sessionId)?.isOpen);
  });

  it('claims a route again when the store lost it while the tunnel lives (the heartbeat reconciles)', async () => {
    await routes.release(sessionId, self.serverId);
    assert.equal(await routes.lookup(sessionId), undefined);
    await eventually('the route', async () => (await routes.lookup(sessionId)) !== undefined, 5_000);
    assert.deepEqual(await routes.lookup(sessionId), self);
  });

  it('does not take back a route another replica claimed since', async () => {
    const other = { serverId: 'replica-b', url: 'http://127.0.0.1:2' };
    await routes.claim(sessionId, other, 30);
    await new Promise((resolve) => setTimeout(resolve, 350));
    assert.deepEqual(await routes.lookup(sessionId), other);
  });

  it('releases its route when the tunnel closes', async () => {
    await routes.claim(sessionId, self, 30);
    await agent.close();
    await eventually('the route to go', async () => (await routes.lookup(sessionId)) === undefined, 5_000);
    assert.equal(hub.local(sessionId), undefined);
  });
});

