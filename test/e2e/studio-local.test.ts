import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { executeInKernel } from '../support/jupyter-kernel.ts';
import { openStudioSocket, studioRequest } from '../support/studio-requests.ts';
import { studio, waitForStudio, type StudioView } from '../support/studios.ts';
import { processAlive } from '../support/processes.ts';
import { eventually } from '../support/waiting.ts';

/** The pid of the session's agent, from the local runner's handle (it is the agent's process group). */
async function agentPid(berth: TestBerth, sessionId: string): Promise<number> {
  const row = await berth.server.database.db.selectFrom('studios').select('run').where('session_id', '=', sessionId).executeTakeFirstOrThrow();
  const handle = (JSON.parse(row.run!) as { handle: string }).handle;
  const pid = /"pid":\s*(\d+)/.exec(handle)?.[1] ?? /^(\d+)/.exec(handle)?.[1];
  assert.ok(pid, `a pid in the local handle ${handle}`);
  return Number(pid);
}

describe('a Jupyter studio on the local runner, end to end through the API and the proxy', () => {
  let berth: TestBerth;
  let created: StudioView;

  before(async () => {
    berth = await startBerth({ config: { studios: { allowedWorkspaces: null, reconcileIntervalS: 0.5 } } });
  });

  after(async () => {
    if (created) await berth.api('PUT', `/api/studios/${created.sessionId}/stop`);
    if (created) await waitForStudio(berth, created.sessionId, 'stopped', 60_000).catch(() => undefined);
    await berth?.close();
  });

  it('creates with autoStart and reaches running only when Jupyter answers', async () => {
    const answer = await berth.api<{ studio: StudioView }>('POST', '/api/studios?workspaceId=admin&autoStart=true', { name: 'notebook', templateKey: 'jupyter' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    created = answer.body.studio;
    assert.match(created.sessionId, /^[a-z0-9]+$/);
    assert.ok(['starting', 'running'].includes(created.statusInfo.status), created.statusInfo.status);
    const running = await waitForStudio(berth, created.sessionId, 'running');
    assert.deepEqual(
      running.progress.filter((event) => event.status === 'succeeded').map((event) => event.step),
      ['start', 'connect'],
    );
  });

  it('executes 1+1 in a kernel through the proxy', async () => {
    const host = new URL(created.studioUrl).host;
    const auth = { 'berth-session-token': berth.adminToken };
    const tree = await studioRequest(berth.url, host, '/tree', { headers: auth });
    assert.equal(tree.status, 200, tree.text.slice(0, 300));
    const xsrf = /_xsrf=([^;]+)/.exec(String(tree.headers['set-cookie'] ?? ''))?.[1];
    assert.ok(xsrf);
    const headers = { ...auth, cookie: `_xsrf=${xsrf}`, 'x-xsrftoken': xsrf, 'content-type': 'application/json' };
    const kernel = await studioRequest(berth.url, host, '/api/kernels', { method: 'POST', headers, body: JSON.stringify({ name: 'python3' }) });
    assert.equal(kernel.status, 201, kernel.text);
    const socket = await openStudioSocket(berth.url, host, `/api/kernels/${(JSON.parse(kernel.text) as { id: string }).id}/channels`, { cookie: `_xsrf=${xsrf}`, 'berth-session-token': berth.adminToken });
    try {
      assert.equal(await executeInKernel(socket, '1+1'), '2');
    } finally {
      socket.close();
    }
  });

  it('stops: the status is stopped, the stop reason says who, and the processes are gone', async () => {
    const pid = await agentPid(berth, created.sessionId);
    assert.ok(processAlive(pid));
    const stop = await berth.api<{ statusInfo: { status: string } }>('PUT', `/api/studios/${created.sessionId}/stop`);
    assert.equal(stop.status, 200);
    assert.ok(['stopping', 'stopped'].includes(stop.body.statusInfo.status));
    const stopped = await waitForStudio(berth, created.sessionId, 'stopped', 60_000);
    assert.equal(stopped.statusInfo.stopReason, 'USER_REQUEST');
    await eventually('the agent process to be gone', () => !processAlive(pid), 10_000);
    const logs = await fetch(`${berth.url}/api/studios/${created.sessionId}/logs`, { headers: { authorization: `Bearer ${berth.adminToken}` } });
    assert.equal(logs.status, 200);
    assert.match(await logs.text(), /Jupyter|notebook/i);
  });

  it('can be started again and deleted only once stopped', async () => {
    const started = await berth.api('PUT', `/api/studios/${created.sessionId}/start`);
    assert.equal(started.status, 200);
    const refused = await berth.api<{ error: { code: string } }>('DELETE', `/api/studios/${created.sessionId}`);
    assert.equal(refused.status, 409);
    await waitForStudio(berth, created.sessionId, 'running');
    await berth.api('PUT', `/api/studios/${created.sessionId}/stop`);
    await waitForStudio(berth, created.sessionId, 'stopped', 60_000);
    // The local runner's workspace (Jupyter's working directory) outlives the runs, and goes with the studio.
    const workspace = join(berth.dataDir, 'sessions', 'workspaces', created.sessionId);
    assert.ok(existsSync(workspace), `${workspace} is kept between runs`);
    const deleted = await berth.api('DELETE', `/api/studios/${created.sessionId}`);
    assert.equal(deleted.status, 204);
    const gone = await berth.api('GET', `/api/studios/${created.sessionId}`);
    assert.equal(gone.status, 404);
    assert.equal(existsSync(workspace), false, `${workspace} is removed with the studio`);
    created = undefined as unknown as StudioView;
  });

  it('a short lifespan stops the session by itself (LIFESPAN_EXPIRED)', async () => {
    const answer = await berth.api<{ studio: StudioView }>('POST', '/api/studios?workspaceId=admin&autoStart=true', {
      name: 'short-lived',
      templateKey: 'jupyter',
      configuration: { lifespanHours: 0.001 }, // 3.6 s
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const stopped = await waitForStudio(berth, answer.body.studio.sessionId, 'stopped', 90_000);
    assert.equal(stopped.statusInfo.stopReason, 'LIFESPAN_EXPIRED');
    assert.equal((await studio(berth, answer.body.studio.sessionId)).statusInfo.status, 'stopped');
  });
});
