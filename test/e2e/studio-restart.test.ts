import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { pickFreePort } from '../../src/connect/agent/port-probe.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { studioRequest } from '../support/studio-requests.ts';
import { waitForStudio, type StudioView } from '../support/studios.ts';
import { eventually } from '../support/waiting.ts';

/** A configured template whose host command is a tiny Node web server: quick to start, no Jupyter needed. */
const webServer = `require('node:http').createServer((q, s) => s.end('up ' + process.env.BERTH_SESSION_ID)).listen(Number(process.argv[1]), '127.0.0.1')`;
const studiosConfig = {
  allowedWorkspaces: null,
  reconcileIntervalS: 0.5,
  templates: { web: { repository: 'cr.example.org/studios/web', tool: 'web', versions: ['1.0-1'], hostCommand: [process.execPath, '-e', webServer, '{port}'] } },
};

describe('a restart of Berth with sessions running', () => {
  let dataDir: string;
  let port: number;
  let berth: TestBerth;
  let survivor: StudioView;
  let killed: StudioView;
  let halfStarted: StudioView;

  const start = async () => startBerth({ dataDir, config: { server: { port }, studios: studiosConfig } as never });
  const create = async (name: string) => {
    const answer = await berth.api<{ studio: StudioView }>('POST', '/api/studios?workspaceId=admin&autoStart=true', { name, templateKey: 'web' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    return waitForStudio(berth, answer.body.studio.sessionId, 'running');
  };
  const agentPid = async (sessionId: string) => {
    const row = await berth.server.database.db.selectFrom('studios').select('run').where('session_id', '=', sessionId).executeTakeFirstOrThrow();
    return Number(/"pid"\s*:\s*(\d+)/.exec((JSON.parse(row.run!) as { handle: string }).handle)?.[1]);
  };

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-restart-'));
    port = await pickFreePort();
    berth = await start();
    survivor = await create('survivor');
    killed = await create('killed');
    halfStarted = await create('half-started');
    const killedPid = await agentPid(killed.sessionId);
    const halfPid = await agentPid(halfStarted.sessionId);
    await berth.close({ keepData: true });
    // While Berth is down: one session dies with everything it ran; another is left as a Berth that died
    // mid-start leaves it: `starting`, its compute never recorded.
    process.kill(-killedPid, 'SIGKILL');
    process.kill(-halfPid, 'SIGKILL');
    const file = new Database(join(dataDir, 'berth.sqlite'));
    const row = file.prepare('select run from studios where session_id = ?').get(halfStarted.sessionId) as { run: string };
    file.prepare("update studios set status = 'starting', run = ? where session_id = ?").run(JSON.stringify({ ...JSON.parse(row.run), handle: null }), halfStarted.sessionId);
    file.close();
    berth = await start();
  });

  after(async () => {
    for (const studio of [survivor, killed, halfStarted]) if (studio) await berth?.api('PUT', `/api/studios/${studio.sessionId}/stop`).catch(() => undefined);
    for (const studio of [survivor, killed, halfStarted]) if (studio) await waitForStudio(berth, studio.sessionId, 'stopped', 30_000).catch(() => undefined);
    await berth?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('a session that kept running is still running and reachable (its agent dials the new process)', async () => {
    const host = new URL(survivor.studioUrl).host;
    const page = await eventually('the survivor to answer through the proxy', async () => {
      const answer = await studioRequest(berth.url, host, '/', { headers: { 'berth-session-token': berth.adminToken } });
      return answer.status === 200 && answer;
    }, 30_000, 200);
    assert.equal(page.text, `up ${survivor.sessionId}`);
    assert.equal((await waitForStudio(berth, survivor.sessionId, 'running')).statusInfo.status, 'running');
  });

  it('a session that died while Berth was down becomes errored, saying why', async () => {
    const errored = await waitForStudio(berth, killed.sessionId, 'errored', 30_000);
    assert.match(errored.statusInfo.message ?? '', /ended/i);
  });

  it('a session left starting by a Berth that died mid-start does not stay starting', async () => {
    const errored = await waitForStudio(berth, halfStarted.sessionId, 'errored', 30_000);
    assert.match(errored.statusInfo.message ?? '', /Berth stopped while the session was being started/);
    const again = await berth.api('PUT', `/api/studios/${halfStarted.sessionId}/start`);
    assert.equal(again.status, 200, 'an errored studio can be started again');
    await waitForStudio(berth, halfStarted.sessionId, 'running');
  });
});
