import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentTunnel } from '../../../src/connect/tunnel/agent-tunnel.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { openStudioSocket, roundTrip, studioHost, studioRequest } from '../../support/studio-requests.ts';
import { startToolServer, type ToolServer } from '../../support/tool-server.ts';
import { eventually } from '../../support/waiting.ts';

/**
 * Two Berth replicas sharing one data directory (database and keys) and one real redis-server as
 * their route store: a request that lands on the replica without the tunnel still reaches the tool.
 */
describe('connect on Redis: two proxy replicas, one tunnel', () => {
  let redis: RedisServer;
  let dataDir: string;
  let holder: TestBerth;
  let other: TestBerth;
  let tool: ToolServer;
  let tunnel: AgentTunnel;
  let sessionId: string;

  before(async () => {
    redis = await startRedis();
    dataDir = await mkdtemp(join(tmpdir(), 'berth-replicas-'));
    const config = { connect: { routeStore: 'redis' as const, redisUrl: redis.url } };
    holder = await startBerth({ dataDir, config });
    other = await startBerth({ dataDir, config });
    tool = await startToolServer();
    const created = await holder.api<{ session: { id: string }; agentToken: string }>('POST', '/api/connect/sessions', { workspace: 'admin' });
    assert.equal(created.status, 201);
    sessionId = created.body.session.id;
    tunnel = new AgentTunnel({ connectUrl: holder.url, sessionId, token: created.body.agentToken, toolPort: tool.port, log: () => undefined });
    tunnel.start();
    tunnel.report({ type: 'status', status: 'running' });
    await eventually('the first request through the tunnel', async () => (await studioRequest(holder.url, studioHost(holder.url, sessionId), '/echo', { headers: auth() })).status === 200);
  });

  after(async () => {
    await tunnel?.close();
    await tool?.close();
    await other?.close();
    await holder?.close();
    await redis?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const auth = () => ({ 'berth-session-token': holder.adminToken });

  it('forwards an HTTP request from the replica without the tunnel to the one holding it', async () => {
    const host = studioHost(other.url, sessionId);
    const answer = await studioRequest(other.url, host, '/echo?via=other', { headers: auth() });
    assert.equal(answer.status, 200, answer.text);
    const seen = JSON.parse(answer.text) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/echo?via=other');
    assert.equal(seen.headers.host, host);
    assert.equal(seen.headers['berth-session-token'], undefined);
  });

  it('forwards a WebSocket the same way', async () => {
    const socket = await openStudioSocket(other.url, studioHost(other.url, sessionId), '/ws', auth());
    try {
      assert.equal(await roundTrip(socket, 'through two replicas'), 'through two replicas');
    } finally {
      socket.close();
    }
  });

  it('still checks who may connect on the forwarding replica', async () => {
    const stranger = await holder.user('stranger');
    const answer = await studioRequest(other.url, studioHost(other.url, sessionId), '/echo', { headers: { 'berth-session-token': stranger } });
    assert.equal(answer.status, 403);
  });

  it('the session says it is connected, whichever replica is asked', async () => {
    const viaOther = await other.api<{ session: { connected: boolean } }>('GET', `/api/connect/sessions/${sessionId}`);
    assert.equal(viaOther.body.session.connected, true);
  });
});

