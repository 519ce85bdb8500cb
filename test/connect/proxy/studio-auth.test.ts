import assert from 'node:assert/strict';
import { IncomingMessage, type IncomingHttpHeaders } from 'node:http';
import { Socket } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConnectSessions, type ConnectSession } from '../../../src/connect/connect-sessions.ts';
import {
  cookieValues,
  isUnderPrefix,
  StudioAuth,
  withoutBerthCredentials,
  type StudioAccess,
} from '../../../src/connect/proxy/studio-auth.ts';
import { StudioRouting, type StudioTarget } from '../../../src/connect/proxy/studio-routing.ts';
import { StudioTokens } from '../../../src/connect/proxy/studio-tokens.ts';
import { MemoryRouteStore } from '../../../src/connect/routes/memory-route-store.ts';
import { openDatabase, type OpenedDatabase } from '../../../src/db/database.ts';
import { IdentityStore, type User } from '../../../src/identity/identity-store.ts';

const ttlS = 3_600;
const platformHost = 'localhost:8080';

/** A request as the proxy receives it (only method, url and headers are read), without a socket behind it. */
function request(method: string, url: string, headers: IncomingHttpHeaders): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.method = method;
  req.url = url;
  req.headers = headers;
  return req;
}

interface Setup {
  auth: StudioAuth;
  tokens: StudioTokens;
  routing: StudioRouting;
}

describe('StudioAuth', () => {
  let dir: string;
  let database: OpenedDatabase;
  let identity: IdentityStore;
  let sessions: ConnectSessions;
  let routes: MemoryRouteStore;
  let tokens: StudioTokens;
  let byHost: Setup;
  let byPath: Setup;
  let ada: User;
  let bob: User;
  let admin: User;
  let adaToken: string;
  let bobToken: string;
  let adminToken: string;
  let pullOnlyToken: string;
  let shared: ConnectSession;
  let secret: ConnectSession;

  const make = (pathRouting: boolean, secureCookies = false): Setup => {
    const routing = new StudioRouting({ studioDomain: 'localhost', pathRouting });
    const auth = new StudioAuth({ sessions, identity, tokens, routing, useOnce: (key, ttl) => routes.useOnce(key, ttl), studioTokenTtlS: ttlS, secureCookies });
    return { auth, tokens, routing };
  };
  const hostTarget = (session: ConnectSession): StudioTarget => ({ sessionId: session.id, prefix: '/', needsSlash: false });
  const studioHost = (session: ConnectSession) => `${session.id}.${platformHost}`;
  const html = { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' };

  /** check() on a request to the studio under subdomain routing. */
  const checkByHost = (session: ConnectSession, headers: IncomingHttpHeaders, method = 'GET', url = '/'): Promise<StudioAccess> =>
    byHost.auth.check(request(method, url, { host: studioHost(session), ...headers }), session, hostTarget(session));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-studio-auth-'));
    database = await openDatabase({ sqlitePath: join(dir, 'berth.sqlite') });
    identity = new IdentityStore(database.db);
    sessions = new ConnectSessions(database.db, identity);
    routes = new MemoryRouteStore();
    tokens = await StudioTokens.open(dir);
    byHost = make(false);
    byPath = make(true);
    ada = await identity.createUser({ name: 'ada' });
    bob = await identity.createUser({ name: 'bob' });
    admin = await identity.createUser({ name: 'root', isAdmin: true });
    adaToken = (await identity.createApiToken(ada, { name: 't' })).secret;
    bobToken = (await identity.createApiToken(bob, { name: 't' })).secret;
    adminToken = (await identity.createApiToken(admin, { name: 't' })).secret;
    pullOnlyToken = (await identity.createApiToken(ada, { name: 'pull', scopes: ['registry:pull'] })).secret;
    const lab = await identity.createWorkspace({ slug: 'lab', owner: ada });
    shared = (await sessions.create({ workspace: lab, user: ada, isPrivate: false })).session;
    secret = (await sessions.create({ workspace: lab, user: ada, isPrivate: true })).session;
  });
  after(async () => {
    await routes.close();
    await database.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('with an API token in Berth-Session-Token', () => {
    it('lets in a user with role launch or above, and the system admin on a shared session', async () => {
      assert.deepEqual(await checkByHost(shared, { 'berth-session-token': adaToken }), { kind: 'allowed', userId: ada.id });
      assert.deepEqual(await checkByHost(shared, { 'berth-session-token': adminToken }), { kind: 'allowed', userId: admin.id });
    });

    it('refuses users without a role or with only view in the workspace (403, naming role launch)', async () => {
      const viewer = await identity.createUser({ name: 'viewer' });
      await identity.setRole(shared.workspaceId, viewer.id, 'view');
      const viewerToken = (await identity.createApiToken(viewer, { name: 't' })).secret;
      for (const token of [bobToken, viewerToken]) {
        const refused = await checkByHost(shared, { 'berth-session-token': token });
        assert.ok(refused.kind === 'denied' && refused.status === 403 && /needs role launch/.test(refused.message), JSON.stringify(refused));
      }
      const launcher = await identity.createUser({ name: 'launcher' });
      await identity.setRole(shared.workspaceId, launcher.id, 'launch');
      const launcherToken = (await identity.createApiToken(launcher, { name: 't' })).secret;
      assert.deepEqual(await checkByHost(shared, { 'berth-session-token': launcherToken }), { kind: 'allowed', userId: launcher.id });
    });

    it('a private session opens for its creator only, not even for the system admin', async () => {
      assert.deepEqual(await checkByHost(secret, { 'berth-session-token': adaToken }), { kind: 'allowed', userId: ada.id });
      for (const token of [adminToken, bobToken]) {
        const refused = await checkByHost(secret, { 'berth-session-token': token });
        assert.ok(refused.kind === 'denied' && refused.status === 403 && /private/.test(refused.message), JSON.stringify(refused));
      }
    });

    it('an unknown token is 401, even for a browser, and even with a valid cookie beside it', async () => {
      const cookie = `berth_studio=${await tokens.issueStudioToken({ userId: ada.id, sessionId: shared.id }, ttlS)}`;
      for (const headers of [{ 'berth-session-token': 'berth_not-a-real-token-0123456789' }, { 'berth-session-token': 'junk', ...html, cookie }]) {
        const refused = await checkByHost(shared, headers);
        assert.ok(refused.kind === 'denied' && refused.status === 401, JSON.stringify(refused));
      }
    });

    it('a token without the api scope (registry only) does not open studios', async () => {
      const refused = await checkByHost(shared, { 'berth-session-token': pullOnlyToken });
      assert.ok(refused.kind === 'denied' && refused.status === 403 && /api scope/.test(refused.message), JSON.stringify(refused));
    });
  });

  describe('with the studio cookie', () => {
    it('a fresh cookie lets its user in without renewing it', async () => {
      const cookie = `other=1; berth_studio=${await tokens.issueStudioToken({ userId: ada.id, sessionId: shared.id }, ttlS)}`;
      assert.deepEqual(await checkByHost(shared, { cookie }, 'POST'), { kind: 'allowed', userId: ada.id });
    });

    it('a cookie past half its lifetime is renewed: host-only, HttpOnly, SameSite=Lax, for the studio’s path', async () => {
      const cookie = `berth_studio=${await tokens.issueStudioToken({ userId: ada.id, sessionId: shared.id }, 60)}`;
      const access = await checkByHost(shared, { cookie });
      assert.equal(access.kind, 'allowed');
      const setCookie = access.kind === 'allowed' ? access.setCookie ?? '' : '';
      assert.match(setCookie, /^berth_studio=[\w-]+\.[\w-]+\.[\w-]+; /);
      assert.deepEqual(attributes(setCookie), ['httponly', `max-age=${ttlS}`, 'path=/', 'samesite=lax']);
      const renewed = await tokens.verifyStudioToken(setCookie.split(';')[0]!.slice('berth_studio='.length), shared.id);
      assert.equal(renewed?.userId, ada.id);
      assert.ok(renewed!.expiresAt > Date.now() + (ttlS - 60) * 1000);
    });

    it('Secure is added when the platform is served over https', async () => {
      const secure = make(false, true);
      const cookie = `berth_studio=${await tokens.issueStudioToken({ userId: ada.id, sessionId: shared.id }, 60)}`;
      const access = await secure.auth.check(request('GET', '/', { host: studioHost(shared), cookie }), shared, hostTarget(shared));
      assert.ok(access.kind === 'allowed' && attributes(access.setCookie ?? '').includes('secure'));
    });

    it('a cookie for another session does not open this one: a browser is sent to log in, a program gets 401', async () => {
      const forSecret = `berth_studio=${await tokens.issueStudioToken({ userId: ada.id, sessionId: secret.id }, ttlS)}`;
      assert.equal((await checkByHost(shared, { cookie: forSecret, ...html })).kind, 'login');
      const program = await checkByHost(shared, { cookie: forSecret, accept: 'application/json' });
      assert.ok(program.kind === 'denied' && program.status === 401);
    });

    it('any valid studio cookie among several counts (another host may have set one for a parent domain)', async () => {
      const valid = await tokens.issueStudioToken({ userId: ada.id, sessionId: shared.id }, ttlS);
      const access = await checkByHost(shared, { cookie: `berth_studio=junk; berth_studio=${valid}` });
      assert.deepEqual(access, { kind: 'allowed', userId: ada.id });
    });

    it('the cookie of a user who may not open the session is 403, not a new login', async () => {
      const cookie = `berth_studio=${await tokens.issueStudioToken({ userId: bob.id, sessionId: secret.id }, ttlS)}`;
      const refused = await checkByHost(secret, { cookie, ...html });
      assert.ok(refused.kind === 'denied' && refused.status === 403 && /private/.test(refused.message), JSON.stringify(refused));
    });
  });

  describe('without credentials', () => {
    it('a browser navigation is sent to the platform’s authorize with the studio’s own callback and a state cookie', async () => {
      const access = await checkByHost(shared, html, 'GET', '/tree?dir=a%20b');
      assert.equal(access.kind, 'login');
      if (access.kind !== 'login') return;
      const location = new URL(access.location);
      assert.equal(`${location.origin}${location.pathname}`, `http://${platformHost}/connect/authorize`);
      assert.equal(location.searchParams.get('session'), shared.id);
      assert.equal(location.searchParams.get('redirect_uri'), `http://${shared.id}.${platformHost}/_berth/callback`);
      const state = location.searchParams.get('state')!;
      const [nonce, returnPath] = state.split('.') as [string, string];
      assert.equal(Buffer.from(returnPath, 'base64url').toString(), '/tree?dir=a%20b');
      assert.ok(access.setCookie.startsWith(`berth_state_${nonce}=${state}; `));
      assert.deepEqual(attributes(access.setCookie), ['httponly', 'max-age=600', 'path=/', 'samesite=lax']);
    });

    it('each login gets its own state, so two tabs do not clash', async () => {
      const [a, b] = [await checkByHost(shared, html), await checkByHost(shared, html)];
      assert.ok(a.kind === 'login' && b.kind === 'login');
      assert.notEqual(new URL(a.location).searchParams.get('state'), new URL(b.location).searchParams.get('state'));
      assert.notEqual(a.setCookie.split('=')[0], b.setCookie.split('=')[0]);
    });

    it('HEAD navigations log in too; anything else is 401 (fetch/XHR, POST, no Accept)', async () => {
      assert.equal((await checkByHost(shared, html, 'HEAD')).kind, 'login');
      for (const [method, headers] of [
        ['GET', { accept: 'application/json' }],
        ['GET', {}],
        ['POST', html],
        ['PUT', html],
      ] as const) {
        const access = await checkByHost(shared, headers, method);
        assert.ok(access.kind === 'denied' && access.status === 401 && /Berth-Session-Token/.test(access.message), `${method} ${JSON.stringify(access)}`);
      }
    });

    it('under path routing the callback, cookie path and return path stay below /_studio/<id>/', async () => {
      const prefix = `/_studio/${shared.id}/`;
      const target: StudioTarget = { sessionId: shared.id, prefix, needsSlash: false };
      const access = await byPath.auth.check(request('GET', `${prefix}lab?x=1`, { host: platformHost, ...html }), shared, target);
      assert.ok(access.kind === 'login');
      const location = new URL(access.location);
      assert.equal(location.searchParams.get('redirect_uri'), `http://${platformHost}${prefix}_berth/callback`);
      const state = location.searchParams.get('state')!;
      assert.equal(Buffer.from(state.split('.')[1]!, 'base64url').toString(), `${prefix}lab?x=1`);
      assert.ok(attributes(access.setCookie).includes(`path=${prefix}`));
      assert.ok(byPath.auth.isCallback(`${prefix}_berth/callback?code=x&state=y`, target));
      assert.ok(!byPath.auth.isCallback('/_berth/callback?code=x', target));
    });

    it('a request path that would leave the prefix is not carried through the login', async () => {
      const prefix = `/_studio/${shared.id}/`;
      const target: StudioTarget = { sessionId: shared.id, prefix, needsSlash: false };
      const access = await byPath.auth.check(request('GET', `${prefix}../other/`, { host: platformHost, ...html }), shared, target);
      assert.ok(access.kind === 'login');
      const state = new URL(access.location).searchParams.get('state')!;
      assert.equal(Buffer.from(state.split('.')[1]!, 'base64url').toString(), prefix);
    });
  });

  it('isCallback matches only <prefix>_berth/callback', () => {
    const target = hostTarget(shared);
    assert.ok(byHost.auth.isCallback('/_berth/callback', target));
    assert.ok(byHost.auth.isCallback('/_berth/callback?code=a&state=b', target));
    for (const url of ['/_berth/callbackx', '/x/_berth/callback', '/_berth/', '/']) assert.ok(!byHost.auth.isCallback(url, target), url);
  });
});

describe('withoutBerthCredentials', () => {
  const table: Array<{ name: string; given: IncomingHttpHeaders; expected: IncomingHttpHeaders }> = [
    { name: 'no credentials: unchanged', given: { host: 'h', accept: '*/*' }, expected: { host: 'h', accept: '*/*' } },
    {
      name: 'every berth_* cookie goes, the others stay in order',
      given: { cookie: 'a=1; berth_studio=jwt; _xsrf=2; berth_login=bwl_x; berth_state_abc=s; b=3' },
      expected: { cookie: 'a=1; _xsrf=2; b=3' },
    },
    { name: 'a Cookie header of only Berth cookies is dropped', given: { cookie: 'berth_studio=jwt;berth_login=x' }, expected: {} },
    { name: 'cookie names are matched whatever their case', given: { cookie: 'Berth_Studio=jwt; keep=1' }, expected: { cookie: 'keep=1' } },
    { name: 'a cookie merely containing berth stays', given: { cookie: 'myberth_x=1; xberth_studio=2' }, expected: { cookie: 'myberth_x=1; xberth_studio=2' } },
    { name: 'Berth-Session-Token goes', given: { 'berth-session-token': 'berth_secret', accept: 'x' }, expected: { accept: 'x' } },
    { name: 'Bearer berth_… goes', given: { authorization: 'Bearer berth_secret0123456789abcdefghij' }, expected: {} },
    { name: 'bearer in lower case goes too', given: { authorization: 'bearer berth_secret0123456789abcdefghij' }, expected: {} },
    {
      name: 'basic auth with a berth_ password goes',
      given: { authorization: `Basic ${Buffer.from('ada:berth_secret0123456789abcdefghij').toString('base64')}` },
      expected: {},
    },
    { name: 'a tool’s own bearer token stays', given: { authorization: 'Bearer jupyter-token-123' }, expected: { authorization: 'Bearer jupyter-token-123' } },
    {
      name: 'a tool’s own basic auth stays',
      given: { authorization: `Basic ${Buffer.from('rstudio:hunter2').toString('base64')}` },
      expected: { authorization: `Basic ${Buffer.from('rstudio:hunter2').toString('base64')}` },
    },
    { name: 'a token scheme Berth does not use stays', given: { authorization: 'token berth_abc' }, expected: { authorization: 'token berth_abc' } },
  ];
  for (const { name, given, expected } of table) {
    it(name, () => {
      const copy = structuredClone(given);
      assert.deepEqual(withoutBerthCredentials(given), expected);
      assert.deepEqual(given, copy, 'the input is not changed');
    });
  }
});

describe('cookie and path helpers', () => {
  it('cookieValues returns every value of one name, exactly matched', () => {
    assert.deepEqual(cookieValues('a=1; berth_studio=x; berth_studio2=y;berth_studio=z', 'berth_studio'), ['x', 'z']);
    assert.deepEqual(cookieValues(undefined, 'a'), []);
    assert.deepEqual(cookieValues('novalue; a=', 'a'), ['']);
  });

  it('isUnderPrefix accepts only same-origin paths below the prefix', () => {
    for (const good of ['/', '/lab?x=1', '/a/b#c']) assert.ok(isUnderPrefix(good, '/'), good);
    for (const bad of ['//evil.example/', '/\\evil.example', 'http://evil.example/', 'evil', '/a\nb', '']) assert.ok(!isUnderPrefix(bad, '/'), bad);
    assert.ok(isUnderPrefix('/_studio/abc/lab', '/_studio/abc/'));
    for (const bad of ['/_studio/abc', '/_studio/abcd/', '/_studio/abc/../xyz/', '/_studio/abc/%2e%2e/xyz/', '/other']) {
      assert.ok(!isUnderPrefix(bad, '/_studio/abc/'), bad);
    }
  });
});

/** The attributes of a Set-Cookie value, lower-cased and sorted (name=value left out). */
function attributes(setCookie: string): string[] {
  return setCookie
    .split(';')
    .slice(1)
    .map((part) => part.trim().toLowerCase())
    .sort();
}
