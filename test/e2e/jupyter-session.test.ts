import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { stopProcess } from '../support/processes.ts';
import { loginToStudio } from '../support/studio-login.ts';
import { openStudioSocket, studioRequest } from '../support/studio-requests.ts';
import { eventually } from '../support/waiting.ts';
import { executeInKernel as execute } from '../support/jupyter-kernel.ts';

interface CreatedSession {
  session: { id: string };
  studioUrl: string;
  env: Record<string, string>;
}

/**
 * Jupyter as a studio's tool: the command a template would give the agent, listening where Connect says.
 * allow_remote_access: Jupyter otherwise refuses Host names other than localhost (its DNS-rebinding guard),
 * and a studio's host is <session>.<studio domain>.
 */
const jupyterCommand = [
  'sh',
  '-c',
  'exec jupyter notebook --no-browser --allow-root --ip 127.0.0.1 --port "$CONNECT_TOOL_PORT" ' +
    '--NotebookApp.base_url="${CONNECT_TOOL_PATH_PREFIX:-/}" --NotebookApp.token= --NotebookApp.password= ' +
    '--NotebookApp.notebook_dir="$JUPYTER_HOME" --NotebookApp.allow_remote_access=True',
];

for (const pathRouting of [false, true]) {
  describe(`a real Jupyter through the agent, the tunnel and the proxy (${pathRouting ? 'path' : 'subdomain'} routing)`, () => {
    let berth: TestBerth;
    let home: string;
    let agent: ChildProcess;
    let agentExit: Promise<number | null>;
    let created: CreatedSession;
    let cookie: string;
    let studio: URL;

    before(async () => {
      berth = await startBerth({ config: { connect: { pathRouting } } });
      home = await mkdtemp(join(tmpdir(), 'berth-jupyter-'));
      const answer = await berth.api<CreatedSession>('POST', '/api/connect/sessions', { workspace: 'admin' });
      assert.equal(answer.status, 201);
      created = answer.body;
      studio = new URL(created.studioUrl);
      agent = spawn(process.execPath, ['bin/berth.js', 'agent', '--grace-period', '10', '--', ...jupyterCommand], {
        env: { ...process.env, ...created.env, HOME: home, JUPYTER_HOME: home, JUPYTER_RUNTIME_DIR: join(home, 'runtime') },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      agent.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-20_000)));
      agentExit = new Promise((resolve) => agent.once('exit', (code) => resolve(code)));
      await eventually('Jupyter to run', async () => {
        if (agent.exitCode !== null) throw new Error(`the agent exited early:\n${stderr}`);
        const state = await berth.api<{ session: { agentStatus: string } }>('GET', `/api/connect/sessions/${created.session.id}`);
        return state.body.session.agentStatus === 'running';
      }, 60_000);
      cookie = await loginToStudio({ berthUrl: berth.url, studioUrl: created.studioUrl, apiToken: berth.adminToken });
    });

    after(async () => {
      // SIGTERM, so that the agent stops Jupyter (a SIGKILLed agent would leave its tool's process group behind)
      if (agent) await stopProcess(agent, 15_000);
      await berth?.close();
      if (home) await rm(home, { recursive: true, force: true });
    });

    const get = (path: string, headers: Record<string, string> = {}) =>
      studioRequest(berth.url, studio.host, studio.pathname + path, { headers: { cookie, ...headers } });

    it('opens the tree page with the studio cookie', async () => {
      const tree = await get('tree');
      assert.equal(tree.status, 200, tree.text.slice(0, 500));
      assert.match(tree.text, /<title>Home Page - Select or create a notebook<\/title>|Jupyter Notebook/);
    });

    it('starts a kernel and executes 1+1 over the kernel WebSocket', async () => {
      const tree = await get('tree');
      const xsrf = /_xsrf=([^;]+)/.exec(String(tree.headers['set-cookie'] ?? ''))?.[1];
      assert.ok(xsrf, 'Jupyter sets its _xsrf cookie');
      const toolCookies = `${cookie}; _xsrf=${xsrf}`;
      const started = await studioRequest(berth.url, studio.host, `${studio.pathname}api/kernels`, {
        method: 'POST',
        headers: { cookie: toolCookies, 'x-xsrftoken': xsrf, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'python3' }),
      });
      assert.equal(started.status, 201, started.text);
      const kernel = JSON.parse(started.text) as { id: string };
      const socket = await openStudioSocket(berth.url, studio.host, `${studio.pathname}api/kernels/${kernel.id}/channels`, { cookie: toolCookies });
      try {
        assert.equal(await execute(socket, '1+1'), '2');
      } finally {
        socket.close();
      }
    });

    it('on SIGTERM the agent stops Jupyter, exits with its status and reports stopped', async () => {
      agent.kill('SIGTERM');
      const code = await agentExit;
      assert.notEqual(code, null);
      const state = await berth.api<{ session: { agentStatus: string; exitCode: number | null } }>('GET', `/api/connect/sessions/${created.session.id}`);
      assert.equal(state.body.session.agentStatus, 'stopped');
      assert.equal(state.body.session.exitCode, code);
      const after = await get('tree');
      assert.equal(after.status, 503);
      assert.match(after.text, /stopped/);
    });
  });
}
