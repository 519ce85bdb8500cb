import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AgentTunnel } from '../../../src/connect/tunnel/agent-tunnel.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { freePort } from '../../support/processes.ts';
import { openStudioSocket, roundTrip, studioHost, studioRequest } from '../../support/studio-requests.ts';
import { startToolServer, type ToolServer } from '../../support/tool-server.ts';
import { eventually } from '../../support/waiting.ts';

interface CreatedSession {
  session: { id: string; agentStatus: string; exitCode: number | null; connected: boolean };
  agentToken: string;
  studioUrl: string;
}

async function createSession(berth: TestBerth, body: object = { workspace: 'admin' }): Promise<CreatedSession> {
  const created = await berth.api<CreatedSession>('POST', '/api/connect/sessions', body);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body;
}

async function sessionState(berth: TestBerth, id: string): Promise<CreatedSession['session']> {
  return (await berth.api<{ session: CreatedSession['session'] }>('GET', `/api/connect/sessions/${id}`)).body.session;
}

function tunnelFor(berth: TestBerth, created: CreatedSession, toolPort: number, log: string[] = []): AgentTunnel {
  return new AgentTunnel({ connectUrl: berth.url, sessionId: created.session.id, token: created.agentToken, toolPort, log: (line) => log.push(line) });
}

describe('connect tunnel: agent → server, requests and WebSockets through the proxy', () => {
  let berth: TestBerth;
  let tool: ToolServer;
  let created: CreatedSession;
  let tunnel: AgentTunnel;
  let host: string;
  const auth = () => ({ 'berth-session-token': berth.adminToken });

  before(async () => {
    berth = await startBerth();
    tool = await startToolServer();
    created = await createSession(berth);
    host = studioHost(berth.url, created.session.id);
    tunnel = tunnelFor(berth, created, tool.port);
    tunnel.start();
    tunnel.report({ type: 'status', status: 'running' });
    await eventually('the agent to be running', async () => ((await sessionState(berth, created.session.id)).agentStatus === 'running' ? true : undefined));
  });

  after(async () => {
    await tunnel?.close();
    await tool?.close();
    await berth?.close();
  });

  it('answers a GET with the tool status, headers and body, the Host kept and X-Forwarded-* added', async () => {
    const answer = await studioRequest(berth.url, host, '/echo?x=1', { headers: auth() });
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['x-tool'], 'yes');
    const seen = JSON.parse(answer.text) as { method: string; url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/echo?x=1');
    assert.equal(seen.headers.host, host);
    assert.equal(seen.headers['x-forwarded-host'], host);
    assert.equal(seen.headers['x-forwarded-proto'], 'http');
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen.headers['berth-session-token'], undefined, 'the API token must not reach the tool');
    assert.equal(seen.headers['berth-connect-forwarded-by'], undefined);
  });

  it('streams a 5 MiB upload to the tool intact', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = i % 251;
    const answer = await studioRequest(berth.url, host, '/echo', { method: 'POST', headers: auth(), body });
    const seen = JSON.parse(answer.text) as { bodyBytes: number; bodySha: string };
    assert.equal(seen.bodyBytes, body.length);
    const { createHash } = await import('node:crypto');
    assert.equal(seen.bodySha, createHash('sha256').update(body).digest('hex'));
  });

  it('relays a 16 MiB download and several Set-Cookie headers, but no cookie in Berth\'s namespace', async () => {
    const big = await studioRequest(berth.url, host, '/bytes?n=16777216', { headers: auth() });
    assert.equal(big.body.length, 16 * 1024 * 1024);
    const cookies = await studioRequest(berth.url, host, '/cookies', { headers: auth() });
    assert.deepEqual(cookies.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/'], 'berth_* (named or nameless) and Domain cookies are dropped');
  });

  it('streams a response as the tool writes it, without buffering', async () => {
    const { request } = await import('node:http');
    const listener = new URL(berth.url);
    const firstChunkAt = await new Promise<{ first: number; end: number }>((resolve, reject) => {
      const req = request({ host: listener.hostname, port: listener.port, path: '/stream?chunks=5', headers: { host, ...auth() } }, (res) => {
        let first = 0;
        res.on('data', () => (first ||= Date.now()));
        res.on('end', () => resolve({ first, end: Date.now() }));
      });
      req.on('error', reject);
      req.end();
    });
    // five chunks 100 ms apart: the first must arrive well before the last
    assert.ok(firstChunkAt.end - firstChunkAt.first >= 300, `first chunk came ${firstChunkAt.end - firstChunkAt.first} ms before the end`);
  });

  it('carries a WebSocket both ways, many round trips and a 1 MiB message', async () => {
    const socket = await openStudioSocket(berth.url, host, '/ws', auth());
    try {
      for (let i = 0; i < 50; i++) assert.equal(await roundTrip(socket, `ping ${i}`), `ping ${i}`);
      const large = 'x'.repeat(1024 * 1024);
      assert.equal((await roundTrip(socket, large)).length, large.length);
    } finally {
      socket.close();
    }
  });

  it('relays an unusual status (600) as the tool sent it, and the agent lives on', async () => {
    const odd = await studioRequest(berth.url, host, '/status600', { headers: auth() });
    assert.equal(odd.status, 600);
    assert.equal(odd.text, 'odd');
    assert.equal((await studioRequest(berth.url, host, '/echo', { headers: auth() })).status, 200);
  });

  it('refuses writes and WebSockets from another origin (another studio), and lets its own origin in', async () => {
    const otherStudio = `http://${studioHost(berth.url, 'anotherstudio1')}`;
    const post = await studioRequest(berth.url, host, '/echo', { method: 'POST', headers: { ...auth(), origin: otherStudio }, body: 'x' });
    assert.equal(post.status, 403);
    assert.match(post.text, /Another site may not write to this studio/);
    await assert.rejects(openStudioSocket(berth.url, host, '/ws', { ...auth(), origin: otherStudio }), /403/);
    const own = await studioRequest(berth.url, host, '/echo', { method: 'POST', headers: { ...auth(), origin: `http://${host}` }, body: 'x' });
    assert.equal(own.status, 200);
    const read = await studioRequest(berth.url, host, '/echo', { headers: { ...auth(), origin: otherStudio } });
    assert.equal(read.status, 200, 'reads stay possible: the browser keeps their answers from the other origin');
  });

  it('runs many requests at once over the one tunnel', async () => {
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => studioRequest(berth.url, host, `/echo?i=${i}`, { headers: auth() })));
    answers.forEach((answer, i) => assert.equal((JSON.parse(answer.text) as { url: string }).url, `/echo?i=${i}`));
  });

  it('answers 502 with a clear message when the tool is not listening, and recovers when it is', async () => {
    const other = await createSession(berth);
    const port = await freePort();
    const second = tunnelFor(berth, other, port);
    second.start();
    second.report({ type: 'status', status: 'running' });
    try {
      const otherHost = studioHost(berth.url, other.session.id);
      const refused = await eventually('a 502', async () => {
        const answer = await studioRequest(berth.url, otherHost, '/echo', { headers: auth() });
        return answer.status === 502 ? answer : undefined;
      });
      assert.match(refused.text, new RegExp(`not answering on port ${port}`));
      const late = await startToolServer(port);
      try {
        assert.equal((await studioRequest(berth.url, otherHost, '/echo', { headers: auth() })).status, 200);
      } finally {
        await late.close();
      }
    } finally {
      await second.close();
    }
  });
});

describe('connect tunnel: session states and refusals (a request waits 1 s for a session coming up)', () => {
  let berth: TestBerth;
  before(async () => {
    berth = await startBerth({ config: { connect: { startWaitS: 1 } } });
  });
  after(async () => berth?.close());

  it('answers 404 for an unknown session and, after the wait, 503 naming the state for one whose agent has not connected', async () => {
    const unknown = await studioRequest(berth.url, studioHost(berth.url, 'nosuchsession1'), '/', { headers: { 'berth-session-token': berth.adminToken } });
    assert.equal(unknown.status, 404);
    assert.match(unknown.text, /no session nosuchsession1/i);
    const created = await createSession(berth);
    const asked = performance.now();
    const waiting = await studioRequest(berth.url, studioHost(berth.url, created.session.id), '/', { headers: { 'berth-session-token': berth.adminToken } });
    assert.ok(performance.now() - asked >= 900, 'the request waited for the session first');
    assert.equal(waiting.status, 503);
    assert.match(waiting.text, /agent has not connected yet/);
    assert.equal(waiting.headers['retry-after'], '2');
    assert.equal(waiting.headers.refresh, '2', 'a browser showing the page asks again by itself');
  });

  it('answers 503 "starting" until the agent reports running, and "stopped" with the exit code after', async () => {
    const tool = await startToolServer();
    const created = await createSession(berth);
    const host = studioHost(berth.url, created.session.id);
    const tunnel = tunnelFor(berth, created, tool.port);
    const auth = { 'berth-session-token': berth.adminToken };
    try {
      tunnel.start();
      tunnel.report({ type: 'status', status: 'starting' });
      const starting = await eventually('starting', async () => {
        const answer = await studioRequest(berth.url, host, '/', { headers: auth });
        return /does not accept connections yet/.test(answer.text) ? answer : undefined;
      });
      assert.equal(starting.status, 503);
      tunnel.report({ type: 'status', status: 'running' });
      await eventually('running', async () => ((await studioRequest(berth.url, host, '/echo', { headers: auth })).status === 200 ? true : undefined));
      tunnel.report({ type: 'status', status: 'stopped', exitCode: 3 });
      assert.equal(await tunnel.flush(5_000), true);
      const stopped = await eventually('stopped', async () => {
        const answer = await studioRequest(berth.url, host, '/', { headers: auth });
        return answer.status === 503 && /stopped/.test(answer.text) ? answer : undefined;
      });
      assert.match(stopped.text, /exited with code 3/);
      const state = await sessionState(berth, created.session.id);
      assert.equal(state.agentStatus, 'stopped');
      assert.equal(state.exitCode, 3);
    } finally {
      await tunnel.close();
      await tool.close();
    }
  });

  it('never leaves a request hanging when the tunnel drops: a page before the answer, a cut connection during it', async () => {
    const tool = await startToolServer();
    const created = await createSession(berth);
    const host = studioHost(berth.url, created.session.id);
    const auth = { 'berth-session-token': berth.adminToken };
    const connectAgain = async () => {
      const tunnel = tunnelFor(berth, created, tool.port);
      tunnel.start();
      tunnel.report({ type: 'status', status: 'running' });
      await eventually('the tunnel', async () => ((await studioRequest(berth.url, host, '/echo', { headers: auth })).status === 200 ? true : undefined));
      return tunnel;
    };
    try {
      let tunnel = await connectAgain();
      const waiting = studioRequest(berth.url, host, '/hang', { headers: auth });
      await eventually('the tool to see the request', () => tool.seen.some((req) => req.url === '/hang'));
      await tunnel.close();
      const page = await waiting;
      assert.equal(page.status, 502);
      assert.match(page.text, /tunnel closed before the tool answered/);

      tunnel = await connectAgain();
      // settled at once: the cut may come while the tunnel is still closing
      const cut = studioRequest(berth.url, host, '/half', { headers: auth }).then(
        (answer) => answer,
        (error: Error) => error,
      );
      await eventually('the tool to see the request', () => tool.seen.some((req) => req.url === '/half'));
      await new Promise((resolve) => setTimeout(resolve, 100));
      await tunnel.close();
      assert.ok((await cut) instanceof Error, 'a half answer must not end as if complete');
    } finally {
      await tool.close();
    }
  });

  it('sends a GET again on a new connection when the tool closed the kept-alive one it went out on', async () => {
    // a tool that answers the first request of each connection, keep-alive, and closes a connection when a
    // second request arrives on it: the race every keep-alive proxy meets when a tool's idle timeout fires
    const { createServer } = await import('node:net');
    const tool = createServer((socket) => {
      let requests = 0;
      socket.on('data', (data) => {
        if (!data.toString().includes('\r\n\r\n')) return;
        requests += 1;
        if (requests > 1) return void socket.destroy();
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok');
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => tool.listen(0, '127.0.0.1', resolve));
    const created = await createSession(berth);
    const host = studioHost(berth.url, created.session.id);
    const tunnel = tunnelFor(berth, created, (tool.address() as { port: number }).port);
    const auth = { 'berth-session-token': berth.adminToken };
    try {
      tunnel.start();
      tunnel.report({ type: 'status', status: 'running' });
      await eventually('the first answer', async () => ((await studioRequest(berth.url, host, '/', { headers: auth })).status === 200 ? true : undefined));
      for (let i = 0; i < 5; i++) {
        const again = await studioRequest(berth.url, host, `/${i}`, { headers: auth });
        assert.equal(again.status, 200, again.text);
        assert.equal(again.text, 'ok');
      }
    } finally {
      await tunnel.close();
      tool.close();
    }
  });

  it('refuses an agent with a wrong token for good, and one for a deleted session', async () => {
    const created = await createSession(berth);
    const wrong = new AgentTunnel({ connectUrl: berth.url, sessionId: created.session.id, token: 'bsa_wrong', toolPort: 1, log: () => undefined });
    const fatal = new Promise<string>((resolve) => (wrong.onFatal = resolve));
    wrong.start();
    assert.match(await fatal, /401 .*agent token is wrong/);
    await wrong.close();

    assert.equal((await berth.api('DELETE', `/api/connect/sessions/${created.session.id}`)).status, 204);
    const late = tunnelFor(berth, created, 1);
    const refused = new Promise<string>((resolve) => (late.onFatal = resolve));
    late.start();
    assert.match(await refused, /401/);
    await late.close();
    const gone = await studioRequest(berth.url, studioHost(berth.url, created.session.id), '/', { headers: { 'berth-session-token': berth.adminToken } });
    assert.equal(gone.status, 404);
  });
});

describe('connect tunnel: the agent dials again after the tunnel drops', () => {
  it('reconnects when the connect server restarts, and the next request works', async () => {
    const port = await freePort();
    const first = await startBerth({ config: { server: { port } } });
    const tool = await startToolServer();
    const created = await createSession(first);
    const log: string[] = [];
    const tunnel = tunnelFor(first, created, tool.port, log);
    let second: TestBerth | undefined;
    try {
      tunnel.start();
      tunnel.report({ type: 'status', status: 'running' });
      const host = studioHost(first.url, created.session.id);
      const auth = { 'berth-session-token': first.adminToken };
      await eventually('first tunnel', async () => ((await studioRequest(first.url, host, '/echo', { headers: auth })).status === 200 ? true : undefined));
      await first.close({ keepData: true });
      second = await startBerth({ dataDir: first.dataDir, config: { server: { port } } });
      const again = await eventually('the request after the reconnect', async () => {
        const answer = await studioRequest(second!.url, host, '/echo', { headers: auth });
        return answer.status === 200 ? answer : undefined;
      });
      assert.equal((JSON.parse(again.text) as { url: string }).url, '/echo');
      assert.ok(log.some((line) => /dialing again/.test(line)), log.join('\n'));
    } finally {
      await tunnel.close();
      await tool.close();
      await second?.close();
    }
  });
});


describe('connect proxy: a GET for a session coming up waits for its tool (default wait)', () => {
  let berth: TestBerth;
  let tool: ToolServer;
  const auth = () => ({ 'berth-session-token': berth.adminToken });
  before(async () => {
    berth = await startBerth();
    tool = await startToolServer();
  });
  after(async () => {
    await tool?.close();
    await berth?.close();
  });

  it('answers with the tool once the agent reports running, while a POST gets the starting page at once', async () => {
    const created = await createSession(berth);
    const host = studioHost(berth.url, created.session.id);
    let answeredAt = 0;
    const opened = studioRequest(berth.url, host, '/echo', { headers: auth() }).then((answer) => ((answeredAt = performance.now()), answer));
    const posted = await studioRequest(berth.url, host, '/echo', { method: 'POST', headers: { ...auth(), 'content-type': 'text/plain' }, body: 'x' });
    assert.equal(posted.status, 503);
    assert.match(posted.text, /agent has not connected yet/);
    assert.equal(posted.headers.refresh, '2');

    const tunnel = tunnelFor(berth, created, tool.port);
    try {
      tunnel.start();
      tunnel.report({ type: 'status', status: 'starting' });
      await eventually('the agent to be connected', async () => ((await sessionState(berth, created.session.id)).agentStatus === 'starting' ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(answeredAt, 0, 'no answer while the tool does not accept connections');
      const runningAt = performance.now();
      tunnel.report({ type: 'status', status: 'running' });
      const answer = await opened;
      assert.equal(answer.status, 200, answer.text);
      assert.equal((JSON.parse(answer.text) as { url: string }).url, '/echo');
      assert.ok(answeredAt >= runningAt);
    } finally {
      await tunnel.close();
    }
  });

  it('waits for an agent that lost its tunnel to dial again', async () => {
    const created = await createSession(berth);
    const host = studioHost(berth.url, created.session.id);
    const first = tunnelFor(berth, created, tool.port);
    first.start();
    first.report({ type: 'status', status: 'running' });
    await eventually('the tunnel', async () => ((await studioRequest(berth.url, host, '/echo', { headers: auth() })).status === 200 ? true : undefined));
    await first.close();
    await eventually('the tunnel to be gone', async () => ((await sessionState(berth, created.session.id)).connected ? undefined : true));
    const opened = studioRequest(berth.url, host, '/again', { headers: auth() });
    const second = tunnelFor(berth, created, tool.port);
    try {
      second.start();
      second.report({ type: 'status', status: 'running' });
      const answer = await opened;
      assert.equal(answer.status, 200, answer.text);
    } finally {
      await second.close();
    }
  });

  it('answers a stopped session at once, without waiting', async () => {
    const created = await createSession(berth);
    const host = studioHost(berth.url, created.session.id);
    const tunnel = tunnelFor(berth, created, tool.port);
    tunnel.start();
    tunnel.report({ type: 'status', status: 'stopped', exitCode: 0 });
    assert.equal(await tunnel.flush(5_000), true);
    await tunnel.close();
    await eventually('stopped', async () => ((await sessionState(berth, created.session.id)).agentStatus === 'stopped' ? true : undefined));
    const asked = performance.now();
    const answer = await studioRequest(berth.url, host, '/', { headers: auth() });
    assert.equal(answer.status, 503);
    assert.match(answer.text, /stopped/);
    assert.equal(answer.headers.refresh, undefined, 'a stopped session does not come back by itself');
    assert.ok(performance.now() - asked < 5_000);
  });
});
