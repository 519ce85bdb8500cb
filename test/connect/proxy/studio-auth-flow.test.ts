import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { getVia, loginToStudio, setCookieNamed } from '../../support/studio-login.ts';
import { openStudioSocket, roundTrip, studioRequest } from '../../support/studio-requests.ts';
import { startToolServer, type ToolServer } from '../../support/tool-server.ts';
import { eventually } from '../../support/waiting.ts';

interface CreatedSession {
  session: { id: string };
  studioUrl: string;
  env: Record<string, string>;
}

interface RunningAgent {
  process: ChildProcess;
  exited: Promise<unknown>;
  stderr: () => string;
}

const navigation = { accept: 'text/html,application/xhtml+xml' };

/** `berth agent --sidecar` attached to a tool already listening, as a runtime would start it beside the tool. */
async function attachAgent(berth: TestBerth, created: CreatedSession, toolPort: number): Promise<RunningAgent> {
  const child = spawn(process.execPath, ['bin/berth.js', 'agent', '--sidecar'], {
    env: { ...process.env, ...created.env, CONNECT_TOOL_PORT: String(toolPort) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-10_000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await eventually(`the agent of ${created.session.id} to run`, async () => {
    if (child.exitCode !== null) throw new Error(`the agent exited early:\n${stderr}`);
    const state = await berth.api<{ session: { agentStatus: string } }>('GET', `/api/connect/sessions/${created.session.id}`);
    return state.body.session.agentStatus === 'running';
  });
  return { process: child, exited, stderr: () => stderr };
}

async function stopAgent(agent: RunningAgent | undefined): Promise<void> {
  if (!agent || agent.process.exitCode !== null || agent.process.signalCode !== null) return;
  agent.process.kill('SIGKILL');
  await agent.exited;
}

for (const pathRouting of [false, true]) {
  describe(`studio login round trip through the real proxy (${pathRouting ? 'path' : 'subdomain'} routing)`, () => {
    let berth: TestBerth;
    let tool: ToolServer;
    let adaToken: string;
    let bobToken: string;
    let shared: CreatedSession;
    let secret: CreatedSession;
    const agents: RunningAgent[] = [];

    const createSession = async (token: string, isPrivate: boolean): Promise<CreatedSession> => {
      const created = await berth.api<CreatedSession>('POST', '/api/connect/sessions', { workspace: 'ada', private: isPrivate }, token);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return created.body;
    };
    /** A request to a path below the studio's URL, e.g. `echo?x=1`. */
    const toStudio = (session: CreatedSession, path: string, headers: Record<string, string> = {}, method = 'GET') => {
      const url = new URL(session.studioUrl);
      return studioRequest(berth.url, url.host, url.pathname + path, { method, headers });
    };
    const seenByTool = (text: string) => JSON.parse(text) as { url: string; headers: Record<string, string> };

    before(async () => {
      berth = await startBerth({ config: { connect: { pathRouting } } });
      tool = await startToolServer();
      adaToken = await berth.user('ada');
      bobToken = await berth.user('bob');
      shared = await createSession(adaToken, false);
      secret = await createSession(adaToken, true);
      agents.push(await attachAgent(berth, shared, tool.port), await attachAgent(berth, secret, tool.port));
    });

    after(async () => {
      for (const agent of agents) await stopAgent(agent);
      await tool?.close();
      await berth?.close();
    });

    it('a browser without a cookie is sent to the platform’s authorize; there, without a login, to /login', async () => {
      const start = await toStudio(shared, 'echo', navigation);
      assert.equal(start.status, 302);
      const authorize = new URL(start.headers.location!);
      assert.equal(authorize.pathname, '/connect/authorize');
      assert.equal(authorize.host, pathRouting ? berth.host : `localhost:${new URL(berth.url).port}`, 'the platform’s own host');
      assert.equal(authorize.searchParams.get('redirect_uri'), `${shared.studioUrl}_berth/callback`);
      assert.ok(setCookieNamed(start.headers, 'berth_state_'));

      const login = await getVia(berth.url, authorize.toString(), navigation);
      assert.equal(login.status, 302);
      assert.equal(login.headers.location, `/login?next=${encodeURIComponent(authorize.pathname + authorize.search)}`);
    });

    it('a program without credentials gets 401, and a tool request is never made', async () => {
      const before = tool.seen.length;
      const answer = await toStudio(shared, 'echo', { accept: 'application/json' });
      assert.equal(answer.status, 401);
      assert.equal(tool.seen.length, before);
    });

    it('API token → code → callback sets the studio cookie → requests reach the tool, which never sees Berth’s credentials', async () => {
      const cookie = await loginToStudio({ berthUrl: berth.url, studioUrl: shared.studioUrl, apiToken: adaToken });
      assert.match(cookie, /^berth_studio=/);
      const answer = await toStudio(shared, 'echo?x=1', {
        cookie: `_xsrf=abc; ${cookie}; berth_login=bwl_whatever; theme=dark`,
        authorization: 'Bearer tool-own-token',
      });
      assert.equal(answer.status, 200, answer.text.slice(0, 300));
      assert.equal(answer.headers['x-tool'], 'yes');
      const seen = seenByTool(answer.text);
      assert.equal(seen.url, `${new URL(shared.studioUrl).pathname}echo?x=1`);
      assert.equal(seen.headers.cookie, '_xsrf=abc; theme=dark');
      assert.equal(seen.headers.authorization, 'Bearer tool-own-token');
    });

    it('the studio cookie also opens the studio’s WebSockets; none does without it', async () => {
      const cookie = await loginToStudio({ berthUrl: berth.url, studioUrl: shared.studioUrl, apiToken: adaToken });
      const url = new URL(shared.studioUrl);
      const socket = await openStudioSocket(berth.url, url.host, `${url.pathname}ws`, { cookie });
      try {
        assert.equal(await roundTrip(socket, 'hello'), 'hello');
      } finally {
        socket.close();
      }
      await assert.rejects(openStudioSocket(berth.url, url.host, `${url.pathname}ws`), /upgrade answered 401/);
    });

    it('the login page path: /login form → authorize → callback → back where the browser was going', async () => {
      const start = await toStudio(shared, 'echo?from=browser', navigation);
      const stateCookie = setCookieNamed(start.headers, 'berth_state_')!;
      const authorizeUrl = new URL(start.headers.location!);
      const toLogin = await getVia(berth.url, authorizeUrl.toString(), navigation);
      const next = new URL(toLogin.headers.location!, authorizeUrl).searchParams.get('next')!;
      const form = new URLSearchParams({ user: 'ada', token: adaToken, next }).toString();
      const loggedIn = await studioRequest(berth.url, authorizeUrl.host, '/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: authorizeUrl.origin },
        body: form,
      });
      assert.equal(loggedIn.status, 303, loggedIn.text.slice(0, 300));
      assert.equal(loggedIn.headers.location, next);
      const loginCookie = setCookieNamed(loggedIn.headers, 'berth_login=')!;

      const authorized = await getVia(berth.url, new URL(next, authorizeUrl).toString(), { ...navigation, cookie: loginCookie });
      assert.equal(authorized.status, 302);
      const callback = await getVia(berth.url, authorized.headers.location!, { ...navigation, cookie: stateCookie });
      assert.equal(callback.status, 302, callback.text.slice(0, 300));
      assert.equal(callback.headers.location, `${new URL(shared.studioUrl).pathname}echo?from=browser`);
      const setCookies = callback.headers['set-cookie']!;
      const studioCookie = setCookies.find((line) => line.startsWith('berth_studio='))!;
      const attributes = studioCookie.split(';').slice(1).map((part) => part.trim().toLowerCase()).sort();
      assert.deepEqual(attributes, ['httponly', 'max-age=3600', `path=${new URL(shared.studioUrl).pathname}`, 'samesite=lax']);
      assert.ok(setCookies.some((line) => line.startsWith(`${stateCookie.split('=')[0]}=;`) && /max-age=0/i.test(line)), 'the state cookie is cleared');

      const answer = await toStudio(shared, 'echo?from=browser', { ...navigation, cookie: studioCookie.split(';')[0]! });
      assert.equal(answer.status, 200);
    });

    it('another user’s private session: 403 by API token, and no code at authorize', async () => {
      await berth.role('ada', 'bob', 'launch');
      const shareable = await toStudio(shared, 'echo', { 'berth-session-token': bobToken });
      assert.equal(shareable.status, 200, 'bob may open the shared session of a workspace he launches in');
      const refused = await toStudio(secret, 'echo', { 'berth-session-token': bobToken });
      assert.equal(refused.status, 403);
      assert.match(refused.text, /private/);
      await assert.rejects(loginToStudio({ berthUrl: berth.url, studioUrl: secret.studioUrl, apiToken: bobToken }), /at authorizing: HTTP 403/);
    });

    it('rights are checked again at the callback: a role removed after authorize gives a 403 page and no cookie', async () => {
      const carolToken = await berth.user('carol');
      await berth.role('ada', 'carol', 'launch');
      const start = await toStudio(shared, '', navigation);
      const authorized = await getVia(berth.url, start.headers.location!, { authorization: `Bearer ${carolToken}` });
      assert.equal(authorized.status, 302);
      assert.equal((await berth.api('DELETE', '/api/workspaces/ada/members/carol')).status, 204);
      const callback = await getVia(berth.url, authorized.headers.location!, { cookie: setCookieNamed(start.headers, 'berth_state_')! });
      assert.equal(callback.status, 403);
      assert.match(callback.headers['content-type']!, /^text\/html/);
      assert.match(callback.text, /needs role launch/);
      assert.equal(setCookieNamed(callback.headers, 'berth_studio='), undefined);
    });

    it('a cookie for studio A does not open studio B', async () => {
      const cookieForA = await loginToStudio({ berthUrl: berth.url, studioUrl: shared.studioUrl, apiToken: adaToken });
      const asBrowser = await toStudio(secret, 'echo', { ...navigation, cookie: cookieForA });
      assert.equal(asBrowser.status, 302);
      assert.match(asBrowser.headers.location!, /\/connect\/authorize\?/);
      const asProgram = await toStudio(secret, 'echo', { cookie: cookieForA });
      assert.equal(asProgram.status, 401);
    });

    it('a code is used once, only at its own studio, and only by the browser that started the login', async () => {
      const start = await toStudio(shared, '', navigation);
      const stateCookie = setCookieNamed(start.headers, 'berth_state_')!;
      const authorized = await getVia(berth.url, start.headers.location!, { authorization: `Bearer ${adaToken}` });
      const callbackUrl = authorized.headers.location!;

      const elsewhere = await getVia(berth.url, callbackUrl, { cookie: stateCookie });
      assert.equal(elsewhere.status, 302);
      const again = await getVia(berth.url, callbackUrl, { cookie: stateCookie });
      assert.equal(again.status, 400);
      assert.match(again.text, /expired or was already used/);
      assert.equal(setCookieNamed(again.headers, 'berth_studio='), undefined);

      const second = await toStudio(shared, '', navigation);
      const secondAuthorized = await getVia(berth.url, second.headers.location!, { authorization: `Bearer ${adaToken}` });
      const withoutState = await getVia(berth.url, secondAuthorized.headers.location!);
      assert.equal(withoutState.status, 400);
      assert.match(withoutState.text, /not started in this browser/);

      const code = new URL(secondAuthorized.headers.location!).searchParams.get('code')!;
      const state = new URL(secondAuthorized.headers.location!).searchParams.get('state')!;
      const atB = await getVia(berth.url, `${secret.studioUrl}_berth/callback?${new URLSearchParams({ code, state })}`, {
        cookie: setCookieNamed(second.headers, 'berth_state_')!,
      });
      assert.equal(atB.status, 400, 'a code for studio A is refused at B’s callback');
      assert.equal(setCookieNamed(atB.headers, 'berth_studio='), undefined);
    });
  });
}
