import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { build } from 'esbuild';
import { pickFreePort } from '../../../src/connect/agent/port-probe.ts';
import { startBerth } from '../../support/berth.ts';
import { run } from '../../support/processes.ts';

const root = join(import.meta.dirname, '../../..');

describe('the standalone agent (scripts/build-agent.sh)', () => {
  let out: string;
  let executable: string;
  let version: string;
  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'berth-agent-build-'));
    await run('bash', [join(root, 'scripts/build-agent.sh'), out], { cwd: root, timeoutMs: 120_000 });
    executable = join(out, 'berth-agent');
    version = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  });
  after(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('--version prints the version in package.json', async () => {
    const result = await run(executable, ['--version']);
    assert.equal(result.stdout, `berth agent ${version}\n`);
    assert.equal(result.stderr, '', 'no experimental-feature warning or other noise');
  });

  it('--install succeeds and installs nothing', async () => {
    const result = await run(executable, ['--install'], { env: {} });
    assert.match(result.stdout, /nothing to install/);
  });

  it('--help prints the usage', async () => {
    const result = await run(executable, ['--help'], { env: {} });
    assert.match(result.stdout, /^Usage: berth agent/);
  });

  it('without its session variables it exits 2 and names them', async () => {
    const result = await run(executable, ['--', 'true'], { env: {}, allowFailure: true });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /BERTH_CONNECT_URL, BERTH_SESSION_ID, BERTH_SESSION_TOKEN must be set/);
  });

  it('the CommonJS bundle runs on plain node too', async () => {
    const result = await run(process.execPath, [join(out, 'berth-agent.cjs'), '--version']);
    assert.equal(result.stdout, `berth agent ${version}\n`);
  });

  it('as a sidecar, opens a working tunnel to a real Berth and exits 0 on SIGTERM', async () => {
    const berth = await startBerth();
    const tool = createServer((req, res) => res.end(`sidecar saw ${req.url}`));
    const port = await pickFreePort();
    await new Promise<void>((resolve) => tool.listen(port, '127.0.0.1', resolve));
    const created = await berth.api<{ session: { id: string }; studioUrl: string; env: Record<string, string> }>('POST', '/api/connect/sessions', { workspace: 'admin' });
    const { session, studioUrl, env } = created.body;
    const agent = spawn(executable, ['--sidecar'], { env: { ...env, CONNECT_TOOL_PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    agent.stderr!.on('data', (chunk) => (output += chunk));
    const exited = once(agent, 'exit') as Promise<[number | null, string | null]>;
    const status = async () => (await berth.api<{ session: { agentStatus: string } }>('GET', `/api/connect/sessions/${session.id}`)).body.session.agentStatus;
    const untilStatus = async (wanted: string) => {
      const deadline = Date.now() + 30_000;
      while ((await status()) !== wanted) {
        if (Date.now() > deadline) throw new Error(`the standalone agent never reported ${wanted}:\n${output}`);
        await sleep(50);
      }
    };
    try {
      await untilStatus('running');
      const answer = await new Promise<string>((resolve, reject) => {
        const headers = { Host: new URL(studioUrl).host, 'Berth-Session-Token': berth.adminToken };
        request(`${berth.url}/hello`, { headers }, (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve(`${res.statusCode} ${body}`));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(answer, '200 sidecar saw /hello');
      agent.kill('SIGTERM');
      assert.deepEqual(await exited, [0, null], output);
      await untilStatus('stopped');
    } finally {
      if (agent.exitCode === null && agent.signalCode === null) agent.kill('SIGKILL');
      tool.close();
      await berth.close();
    }
  });

  it('bundles only node built-ins, src/connect/agent and src/connect/tunnel', async () => {
    const result = await build({
      entryPoints: [join(root, 'src/connect/agent/agent-main.ts')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs).map((input) => relative(root, join(process.cwd(), input)));
    const outside = inputs.filter((input) => !/^src\/connect\/(agent|tunnel)\/[^/]+\.ts$/.test(input));
    assert.deepEqual(outside, []);
    assert.ok(inputs.includes('src/connect/tunnel/agent-tunnel.ts'));
  });
});
