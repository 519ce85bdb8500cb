import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { waitForStudio, type StudioView } from '../../support/studios.ts';

/** Tools for the local runner as configured templates: quick to start, each misbehaving in its own way. */
const server = (extra: string) => `${extra}; require('node:http').createServer((q, s) => s.end('up')).listen(Number(process.argv[1]), '127.0.0.1')`;
const template = (code: string) => ({ repository: 'cr.example.org/studios/t', tool: 'web', versions: ['1.0-1'], hostCommand: [process.execPath, '-e', code, '{port}'] });
const templates = {
  web: template(server('0')),
  stubborn: template(server("process.on('SIGTERM', () => console.log('ignoring SIGTERM'))")),
  quitter: template(server('setTimeout(() => process.exit(0), 1500)')),
  crasher: template(server('setTimeout(() => process.exit(4), 1500)')),
};

describe('session lifecycle on the local runner: idle stop, force stop, tools that end by themselves', () => {
  let berth: TestBerth;
  const created: string[] = [];

  const create = async (name: string, templateKey: string, body: Record<string, unknown> = {}): Promise<StudioView> => {
    const answer = await berth.api<{ studio: StudioView }>('POST', '/api/studios?workspaceId=admin&autoStart=true', { name, templateKey, ...body });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    created.push(answer.body.studio.sessionId);
    return answer.body.studio;
  };

  before(async () => {
    berth = await startBerth({
      config: { studios: { allowedWorkspaces: null, reconcileIntervalS: 0.3, idleStopMinutes: 0.05, forceStopAfterS: 2, gracePeriodS: 30, templates } as never },
    });
  });
  after(async () => {
    for (const id of created) await berth.api('PUT', `/api/studios/${id}/stop`).catch(() => undefined);
    for (const id of created) await waitForStudio(berth, id, 'stopped', 60_000).catch(() => undefined);
    await berth?.close();
  });

  it('a session without traffic stops by itself after idleStopMinutes (IDLE_TIMEOUT)', async () => {
    const studio = await create('idle', 'web');
    await waitForStudio(berth, studio.sessionId, 'running');
    const stopped = await waitForStudio(berth, studio.sessionId, 'stopped', 30_000);
    assert.equal(stopped.statusInfo.stopReason, 'IDLE_TIMEOUT');
  });

  it('a session still stopping after forceStopAfterS is killed (FORCE_STOPPED), its 30 s grace notwithstanding', async () => {
    const studio = await create('stubborn', 'stubborn', { configuration: { lifespanHours: 0 } });
    await waitForStudio(berth, studio.sessionId, 'running');
    const stop = await berth.api<{ statusInfo: { status: string } }>('PUT', `/api/studios/${studio.sessionId}/stop`);
    assert.equal(stop.body.statusInfo.status, 'stopping');
    const stopped = await waitForStudio(berth, studio.sessionId, 'stopped', 20_000);
    assert.equal(stopped.statusInfo.stopReason, 'FORCE_STOPPED');
    assert.match(stopped.statusInfo.message ?? '', /did not stop within 2 s/);
  });

  it('a tool that exits with 0 leaves the session stopped (TOOL_EXITED); one that fails leaves it errored with the code', async () => {
    const quitter = await create('quitter', 'quitter');
    const crasher = await create('crasher', 'crasher');
    const stopped = await waitForStudio(berth, quitter.sessionId, 'stopped', 30_000);
    assert.equal(stopped.statusInfo.stopReason, 'TOOL_EXITED');
    const errored = await waitForStudio(berth, crasher.sessionId, 'errored', 30_000);
    assert.match(errored.statusInfo.message ?? '', /code 4/);
  });

  it('conda packages need a container runner: refused on local with the reason, nothing started', async () => {
    const answer = await berth.api<{ studio: StudioView }>('POST', '/api/studios?workspaceId=admin', { name: 'conda', templateKey: 'web', configuration: { condaEnvironment: 'dependencies:\n  - numpy\n' } });
    assert.equal(answer.status, 200);
    created.push(answer.body.studio.sessionId);
    const start = await berth.api<{ error: { message: string } }>('PUT', `/api/studios/${answer.body.studio.sessionId}/start`);
    assert.equal(start.status, 409);
    assert.match(start.body.error.message, /docker or kubernetes/);
    const autoStarted = await berth.api<{ error: { message: string } }>('POST', '/api/studios?workspaceId=admin&autoStart=true', { name: 'conda-now', templateKey: 'web', configuration: { condaEnvironment: 'dependencies:\n  - numpy\n' } });
    assert.equal(autoStarted.status, 409);
    const listed = await berth.api<{ studios: Array<{ name: string }> }>('GET', '/api/studios?workspaceId=admin&search=conda-now');
    assert.deepEqual(listed.body.studios, [], 'a create whose start was refused leaves nothing behind');
  });

  it('streams progress and status as server-sent events', async () => {
    const studio = await create('watched', 'web', { configuration: { lifespanHours: 0 } });
    const response = await fetch(`${berth.url}/api/studios/${studio.sessionId}/events`, { headers: { authorization: `Bearer ${berth.adminToken}` } });
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = response.body!.getReader();
    let text = '';
    while (!/event: status\ndata: \{"status":"running"/.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString('utf8');
    }
    await reader.cancel();
    assert.match(text, /event: progress\ndata: \{"step":"start","status":"succeeded"/);
    assert.match(text, /event: status\ndata: \{"status":"running"/);
  });
});
