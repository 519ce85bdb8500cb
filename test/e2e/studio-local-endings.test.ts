// How sessions end on the local runner, through the real server: an agent killed under its tool, output kept
// across a second release, and a run's agent token after the run.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { studioRequest } from '../support/studio-requests.ts';
import { waitForStudio } from '../support/studios.ts';
import { processAlive } from '../support/processes.ts';
import { eventually } from '../support/waiting.ts';

const server = (extra: string) => `${extra}; require('node:http').createServer((q, s) => s.end('up')).listen(Number(process.argv[1]), '127.0.0.1')`;
const template = (code: string) => ({ repository: 'cr.example.org/studios/t', tool: 'web', versions: ['1.0-1'], hostCommand: [process.execPath, '-e', code, '{port}'] });
const templates = { web: template(server('0')), crasher: template(server("console.log('MARKER: why I crashed'); setTimeout(() => process.exit(4), 1000)")) };

let berth: TestBerth;
const created: string[] = [];
const cleanup: Array<() => void> = [];
before(async () => { berth = await startBerth({ config: { studios: { allowedWorkspaces: null, reconcileIntervalS: 0.3, templates } } as never }); });
after(async () => {
  for (const fn of cleanup) { try { fn(); } catch { /* gone */ } }
  for (const id of created) await berth.api('PUT', `/api/studios/${id}/stop`).catch(() => undefined);
  for (const id of created) await waitForStudio(berth, id, 'stopped', 30_000).catch(() => undefined);
  await berth.close();
});

const create = async (name: string, templateKey: string) => {
  const answer = await berth.api<{ studio: { sessionId: string; studioUrl: string } }>('POST', '/api/studios?workspaceId=admin&autoStart=true', { name, templateKey, configuration: { lifespanHours: 0 } });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  created.push(answer.body.studio.sessionId);
  return answer.body.studio;
};
const agentPid = async (sessionId: string) => {
  const row = await berth.server.database.db.selectFrom('studios').select('run').where('session_id', '=', sessionId).executeTakeFirstOrThrow();
  return Number(/"pid"\s*:\s*(\d+)/.exec((JSON.parse(row.run!) as { handle: string }).handle)?.[1]);
};
const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
const logs = async (id: string) => (await fetch(`${berth.url}/api/studios/${id}/logs`, { headers: { authorization: `Bearer ${berth.adminToken}` } })).text();

describe('local sessions end cleanly', () => {
  it('an agent that dies (OOM kill, crash): the session is errored and its orphaned tool is killed', async () => {
    const studio = await create('agent-dies', 'web');
    await waitForStudio(berth, studio.sessionId, 'running');
    const agent = await agentPid(studio.sessionId);
    const [tool] = childrenOf(agent);
    assert.ok(tool);
    cleanup.push(() => process.kill(tool!, 'SIGKILL'));
    process.kill(agent, 'SIGKILL'); // the agent alone, as the OOM killer would
    const errored = await waitForStudio(berth, studio.sessionId, 'errored', 20_000);
    assert.match(errored.statusInfo.message ?? '', /ended unexpectedly/);
    await eventually('the orphaned tool is killed', () => !processAlive(tool!));
    // its agent never said it stopped, yet its URL says so at once: no wait for an agent that cannot come
    const asked = performance.now();
    const page = await studioRequest(berth.url, new URL(studio.studioUrl).host, '/', { headers: { 'berth-session-token': berth.adminToken } });
    assert.equal(page.status, 503);
    assert.match(page.text, /stopped/);
    assert.equal(page.headers.refresh, undefined);
    assert.ok(performance.now() - asked < 5_000, 'answered without waiting for the session');
  });

  it('stopping an errored studio keeps the output of its failed run', async () => {
    const studio = await create('crash', 'crasher');
    await waitForStudio(berth, studio.sessionId, 'errored', 20_000);
    const before = await eventually('the failed run\'s output is kept', async () => {
      const kept = await logs(studio.sessionId);
      return /MARKER/.test(kept) && kept;
    });
    await berth.api('PUT', `/api/studios/${studio.sessionId}/stop`);
    await waitForStudio(berth, studio.sessionId, 'stopped', 20_000);
    const afterStop = await logs(studio.sessionId);
    assert.equal(afterStop, before);
  });

  it("a stopped studio's agent token no longer attaches an agent: its URL does not serve while it says stopped", async () => {
    const studio = await create('token', 'web');
    await waitForStudio(berth, studio.sessionId, 'running');
    const environ = readFileSync(`/proc/${await agentPid(studio.sessionId)}/environ`, 'utf8').split('\0');
    const token = environ.find((line) => line.startsWith('BERTH_SESSION_TOKEN='))!.slice('BERTH_SESSION_TOKEN='.length);
    await berth.api('PUT', `/api/studios/${studio.sessionId}/stop`);
    await waitForStudio(berth, studio.sessionId, 'stopped', 30_000);
    const impostor: Server = createServer((_, res) => res.end('served by a process Berth does not know'));
    await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => impostor.close());
    const port = (impostor.address() as { port: number }).port;
    const agent: ChildProcess = spawn(process.execPath, [fileURLToPath(new URL('../../bin/berth.js', import.meta.url)), 'agent', '--sidecar'], {
      env: { PATH: process.env.PATH, BERTH_CONNECT_URL: berth.url, BERTH_SESSION_ID: studio.sessionId, BERTH_SESSION_TOKEN: token, CONNECT_TOOL_PORT: String(port) },
      stdio: 'ignore',
    });
    cleanup.push(() => agent.kill('SIGKILL'));
    const host = new URL(studio.studioUrl).host;
    const refused = new Promise<number | null>((resolve) => agent.once('exit', (code) => resolve(code)));
    assert.notEqual(await refused, 0, 'the agent gives up: its token is refused');
    const answer = await studioRequest(berth.url, host, '/', { headers: { 'berth-session-token': berth.adminToken } });
    assert.equal(answer.status, 503);
  });
});
