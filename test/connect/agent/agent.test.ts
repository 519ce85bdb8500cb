import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAgent, type AgentTunnelHandle } from '../../../src/connect/agent/agent.ts';
import type { AgentOptions } from '../../../src/connect/agent/agent-options.ts';
import { pickFreePort } from '../../../src/connect/agent/port-probe.ts';
import type { AgentTunnelOptions } from '../../../src/connect/tunnel/agent-tunnel.ts';
import type { AgentEvent } from '../../../src/connect/tunnel/tunnel-protocol.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { eventually } from '../../support/waiting.ts';

type StatusEvent = Extract<AgentEvent, { type: 'status' }>;

/** Stands in for the tunnel where no server is wanted: records what the agent tells it. */
class RecordingTunnel implements AgentTunnelHandle {
  onFatal?: (message: string) => void;
  readonly calls: string[] = [];
  readonly statuses: StatusEvent[] = [];
  /** Whether the tool's port took a connection at the moment `running` was reported. */
  portAcceptedWhenRunning: Promise<boolean> | undefined;

  constructor(readonly options: AgentTunnelOptions) {}

  start(): void {
    this.calls.push('start');
  }
  report(event: StatusEvent): void {
    this.calls.push(`report ${event.status}`);
    this.statuses.push(event);
    if (event.status === 'running') this.portAcceptedWhenRunning = portAccepts(this.options.toolPort);
  }
  async flush(): Promise<boolean> {
    this.calls.push('flush');
    return true;
  }
  async close(): Promise<void> {
    this.calls.push('close');
  }
  get statusNames(): string[] {
    return this.statuses.map((status) => status.status);
  }
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * A tool that opens its port only once `go` exists (so the test decides when it becomes reachable), writes the
 * environment it got to `envOut`, exits with 9 when asked for /exit, and on SIGTERM does as `onTerm` says:
 * `exit:N`, `ignore`, or `default`.
 */
const gatedTool = `
const fs = require('node:fs');
const [go, envOut, onTerm] = process.argv.slice(1);
if (onTerm === 'ignore') process.on('SIGTERM', () => undefined);
else if (onTerm.startsWith('exit:')) process.on('SIGTERM', () => process.exit(Number(onTerm.slice(5))));
const { CONNECT_TOOL_PORT, CONNECT_TOOL_PATH_PREFIX, BERTH_SESSION_ID, BERTH_SESSION_TOKEN } = process.env;
fs.writeFileSync(envOut, JSON.stringify({ CONNECT_TOOL_PORT, CONNECT_TOOL_PATH_PREFIX, BERTH_SESSION_ID, BERTH_SESSION_TOKEN }));
const server = require('node:http').createServer((req, res) => res.end('tool', () => req.url === '/exit' && process.exit(9)));
const waitForGo = setInterval(() => {
  if (!fs.existsSync(go)) return;
  clearInterval(waitForGo);
  server.listen(Number(CONNECT_TOOL_PORT), '127.0.0.1');
}, 10);
`;

const sessionEnv = { BERTH_CONNECT_URL: 'http://127.0.0.1:1', BERTH_SESSION_ID: 'abc123def456', BERTH_SESSION_TOKEN: 'bsa_secret' };

function agentOptions(tool: AgentOptions['tool'], overrides: Partial<AgentOptions> = {}): AgentOptions {
  const { BERTH_CONNECT_URL: connectUrl, BERTH_SESSION_ID: sessionId, BERTH_SESSION_TOKEN: token } = sessionEnv;
  return { connectUrl, sessionId, token, tool, graceMs: 30_000, ...overrides };
}

describe('runAgent, with a recording tunnel in place of a connect server', () => {
  let dir: string;
  let testCount = 0;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-agent-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts runAgent on the gated tool; returns what the test needs to drive it. */
  async function startGatedAgent(onTerm: string, overrides: Partial<AgentOptions> = {}) {
    const files = { go: join(dir, `go-${++testCount}`), env: join(dir, `env-${testCount}.json`) };
    const port = await pickFreePort();
    const signals = new EventEmitter();
    const logs: string[] = [];
    let tunnel: RecordingTunnel | undefined;
    const options = agentOptions({ kind: 'command', command: [process.execPath, '-e', gatedTool, files.go, files.env, onTerm], port }, overrides);
    const exit = runAgent(options, {
      createTunnel: (tunnelOptions) => (tunnel = new RecordingTunnel(tunnelOptions)),
      signals,
      log: (line) => logs.push(line),
      env: { ...process.env, ...sessionEnv },
    });
    await eventually('the tool to start', () => tunnel !== undefined && existsSync(files.env));
    const open = async () => {
      await writeFile(files.go, '');
      await eventually('running', () => tunnel!.statusNames.includes('running'));
    };
    return { tunnel: tunnel!, exit, port, signals, logs, files, open };
  }

  it('reports starting, then running only once the port accepts, then stopped with the exit code', async () => {
    const agent = await startGatedAgent('default');
    assert.equal(agent.tunnel.options.toolPort, agent.port);
    assert.deepEqual(agent.tunnel.calls.slice(0, 2), ['start', 'report starting']);
    // The tool is up but its port is closed: several probes go by without a `running`.
    await sleep(500);
    assert.deepEqual(agent.tunnel.statusNames, ['starting']);

    await agent.open();
    assert.equal(await agent.tunnel.portAcceptedWhenRunning, true);
    assert.equal(await (await fetch(`http://127.0.0.1:${agent.port}/exit`)).text(), 'tool');

    assert.equal(await agent.exit, 9);
    assert.deepEqual(agent.tunnel.statuses, [
      { type: 'status', status: 'starting' },
      { type: 'status', status: 'running' },
      { type: 'status', status: 'stopped', exitCode: 9, signal: null },
    ]);
    assert.deepEqual(agent.tunnel.calls.slice(-3), ['report stopped', 'flush', 'close']);
  });

  it("gives the tool its port and path prefix but not the agent's token", async () => {
    const agent = await startGatedAgent('default', { pathPrefix: '/_studio/abc123def456/' });
    assert.deepEqual(JSON.parse(await readFile(agent.files.env, 'utf8')), {
      CONNECT_TOOL_PORT: String(agent.port),
      CONNECT_TOOL_PATH_PREFIX: '/_studio/abc123def456/',
      BERTH_SESSION_ID: 'abc123def456',
    });
    agent.signals.emit('SIGTERM');
    assert.equal(await agent.exit, 143);
  });

  it('on SIGTERM passes it to the tool and exits with the status the tool exits with', async () => {
    const agent = await startGatedAgent('exit:3');
    await agent.open();
    agent.signals.emit('SIGTERM');
    assert.equal(await agent.exit, 3);
    assert.deepEqual(agent.tunnel.statuses.at(-1), { type: 'status', status: 'stopped', exitCode: 3, signal: null });
  });

  it('on SIGTERM SIGKILLs a tool that ignores it once the grace period is over', async () => {
    const agent = await startGatedAgent('ignore', { graceMs: 1_000 });
    await agent.open();
    agent.signals.emit('SIGTERM');
    assert.equal(await agent.exit, 137);
    assert.deepEqual(agent.tunnel.statuses.at(-1), { type: 'status', status: 'stopped', exitCode: 137, signal: 'SIGKILL' });
  });

  it('a second signal kills the tool without waiting for the grace period', async () => {
    const agent = await startGatedAgent('ignore', { graceMs: 600_000 });
    await agent.open();
    agent.signals.emit('SIGTERM'); // ignored by the tool
    agent.signals.emit('SIGTERM');
    assert.equal(await agent.exit, 137);
    assert.deepEqual(agent.tunnel.statuses.at(-1), { type: 'status', status: 'stopped', exitCode: 137, signal: 'SIGKILL' });
  });

  it('a tool that cannot be started is reported stopped with 127 and the reason', async () => {
    const tunnels: RecordingTunnel[] = [];
    const status = await runAgent(
      agentOptions({ kind: 'command', command: [join(dir, 'no-such-tool')] }),
      { createTunnel: (options) => tunnels[tunnels.push(new RecordingTunnel(options)) - 1]!, signals: new EventEmitter(), log: () => undefined },
    );
    assert.equal(status, 127);
    const stopped = tunnels[0]!.statuses.at(-1)!;
    assert.equal(stopped.exitCode, 127);
    assert.match(stopped.message ?? '', /no-such-tool: command not found/);
    assert.deepEqual(tunnels[0]!.statusNames, ['starting', 'stopped']);
  });

  it('stops the tool and exits 1 when the connect server refuses the agent for good', async () => {
    const agent = await startGatedAgent('exit:0');
    agent.tunnel.onFatal!('the connect server refused this agent: 401 bad token');
    assert.equal(await agent.exit, 1);
    const stopped = agent.tunnel.statuses.at(-1)!;
    assert.equal(stopped.status, 'stopped');
    assert.equal(stopped.message, 'the connect server refused this agent: 401 bad token');
    assert.ok(!agent.tunnel.calls.includes('flush'), 'nothing to flush to a server that refused the agent');
    assert.ok(agent.tunnel.calls.includes('close'));
  });

  describe('sidecar', () => {
    let tool: Server;
    let port: number;
    before(async () => {
      tool = createServer((_req, res) => res.end('sidecar'));
      port = await pickFreePort();
      await new Promise<void>((resolve) => tool.listen(port, '127.0.0.1', resolve));
    });
    after(() => tool.close());

    it('attaches to a tool already listening, reports running, and on SIGTERM reports stopped, exits 0 and leaves the tool alone', async () => {
      const signals = new EventEmitter();
      let tunnel: RecordingTunnel | undefined;
      const exit = runAgent(
        agentOptions({ kind: 'sidecar', port }),
        { createTunnel: (options) => (tunnel = new RecordingTunnel(options)), signals, log: () => undefined },
      );
      await eventually('running', () => tunnel?.statusNames.includes('running') ?? false);
      assert.equal(tunnel!.options.toolPort, port);
      signals.emit('SIGTERM');
      assert.equal(await exit, 0);
      assert.deepEqual(tunnel!.statuses, [
        { type: 'status', status: 'starting' },
        { type: 'status', status: 'running' },
        { type: 'status', status: 'stopped', exitCode: null, signal: null },
      ]);
      assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'sidecar');
    });

    it('reports starting again while the sidecar stops accepting connections, and running once it is back', async () => {
      const sidecarPort = await pickFreePort();
      const listen = (server: Server) => new Promise<void>((resolve) => server.listen(sidecarPort, '127.0.0.1', resolve));
      let sidecar = createServer((_req, res) => res.end('sidecar'));
      await listen(sidecar);
      const signals = new EventEmitter();
      let tunnel: RecordingTunnel | undefined;
      const exit = runAgent(agentOptions({ kind: 'sidecar', port: sidecarPort }), {
        createTunnel: (options) => (tunnel = new RecordingTunnel(options)),
        signals,
        log: () => undefined,
      });
      try {
        await eventually('running', () => tunnel?.statusNames.includes('running') ?? false);
        await new Promise<void>((resolve) => sidecar.close(() => resolve()));
        await eventually('starting again', () => tunnel!.statusNames.lastIndexOf('starting') > tunnel!.statusNames.indexOf('running'));
        assert.match(tunnel!.statuses.at(-1)!.message ?? '', /stopped accepting connections/);
        sidecar = createServer((_req, res) => res.end('sidecar'));
        await listen(sidecar);
        await eventually('running again', () => tunnel!.statusNames.at(-1) === 'running');
      } finally {
        signals.emit('SIGTERM');
        await exit;
        sidecar.close();
      }
    });
  });
});

/** A tiny web app: answers every request with what it saw, and exits 3 on SIGTERM. */
const echoTool = `
process.on('SIGTERM', () => process.exit(3));
require('node:http')
  .createServer((req, res) => res.end(JSON.stringify({ tool: 'echo', url: req.url, port: process.env.CONNECT_TOOL_PORT })))
  .listen(Number(process.env.CONNECT_TOOL_PORT), '127.0.0.1');
`;

interface SessionView {
  id: string;
  agentStatus: string;
  exitCode: number | null;
}

describe('berth agent end to end: a real Berth, its tunnel and proxy, the agent as its own process', () => {
  let berth: TestBerth;
  let agent: ChildProcess | undefined;
  let agentOutput = '';
  before(async () => {
    berth = await startBerth();
  });
  after(async () => {
    // SIGTERM (not SIGKILL) so the agent stops the tool in its own process group too.
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGTERM');
      await once(agent, 'exit');
    }
    await berth.close();
  });

  /** Sends one request through Berth's proxy to the studio, as a script would: by Host, with its API token. */
  function throughProxy(studioUrl: string, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${berth.url}${path}`, { headers: { Host: new URL(studioUrl).host, 'Berth-Session-Token': berth.adminToken } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  async function sessionView(id: string): Promise<SessionView> {
    const result = await berth.api<{ session: SessionView }>('GET', `/api/connect/sessions/${id}`);
    assert.equal(result.status, 200, JSON.stringify(result.body));
    return result.body.session;
  }

  async function untilStatus(id: string, status: string): Promise<SessionView> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const view = await sessionView(id);
      if (view.agentStatus === status) return view;
      if (Date.now() > deadline) throw new Error(`session ${id} stayed ${view.agentStatus}, not ${status}; agent said:\n${agentOutput}`);
      await sleep(50);
    }
  }

  it('starts the tool, reaches running, serves requests through the proxy, and on SIGTERM exits with the tool\'s status and reports it', async () => {
    const created = await berth.api<{ session: SessionView; studioUrl: string; env: Record<string, string> }>('POST', '/api/connect/sessions', {
      workspace: 'admin',
      private: false,
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { session, studioUrl, env } = created.body;
    assert.equal(session.agentStatus, 'waiting');

    const root = join(import.meta.dirname, '../../..');
    const { CONNECT_TOOL_PORT: _inherited, ...parentEnv } = process.env;
    agent = spawn(process.execPath, ['bin/berth.js', 'agent', '--grace-period', '10', '--', process.execPath, '-e', echoTool], {
      cwd: root,
      env: { ...parentEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    agent.stdout!.on('data', (chunk) => (agentOutput += chunk));
    agent.stderr!.on('data', (chunk) => (agentOutput += chunk));
    const exited = once(agent, 'exit') as Promise<[number | null, string | null]>;

    await untilStatus(session.id, 'running');
    const answer = await throughProxy(studioUrl, '/some/page?x=1');
    assert.equal(answer.status, 200, answer.body);
    const seen = JSON.parse(answer.body) as { tool: string; url: string; port: string };
    assert.equal(seen.tool, 'echo');
    assert.equal(seen.url, '/some/page?x=1');
    assert.match(seen.port, /^\d+$/, 'the agent picked a port and told the tool');

    agent.kill('SIGTERM');
    const [code, signal] = await exited;
    assert.deepEqual({ code, signal }, { code: 3, signal: null }, agentOutput);
    const stopped = await untilStatus(session.id, 'stopped');
    assert.equal(stopped.exitCode, 3);
  });
});
