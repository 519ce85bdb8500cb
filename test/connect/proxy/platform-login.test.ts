import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { safeNext } from '../../../src/connect/proxy/platform-login.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';

interface CreatedSession {
  session: { id: string };
  studioUrl: string;
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const formHeaders = { 'content-type': 'application/x-www-form-urlencoded' };

/** `name=value` of the Set-Cookie header for `name`, and its attributes lower-cased and sorted. */
function setCookieOf(response: Response, name: string): { pair: string; attributes: string[] } | undefined {
  const line = response.headers.getSetCookie().find((one) => one.startsWith(`${name}=`));
  if (!line) return undefined;
  const [pair, ...attributes] = line.split(';').map((part) => part.trim());
  return { pair: pair!, attributes: attributes.map((a) => a.toLowerCase()).sort() };
}

describe('PlatformLogin (/login, /logout, /connect/authorize)', () => {
  let berth: TestBerth;
  let adaToken: string;
  let bobToken: string;
  let adaSession: CreatedSession;
  let adaPrivate: CreatedSession;

  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${berth.url}${path}`, { method: 'POST', body, headers: { ...formHeaders, ...headers }, redirect: 'manual' });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${berth.url}${path}`, { headers, redirect: 'manual' });
  const createSession = async (token: string, body: { workspace: string; private: boolean }) => {
    const created = await berth.api<CreatedSession>('POST', '/api/connect/sessions', body, token);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    return created.body;
  };
  const callbackOf = (session: CreatedSession) => `${session.studioUrl}_berth/callback`;
  const authorizePath = (session: CreatedSession, redirectUri = callbackOf(session), state = 'st4te') =>
    `/connect/authorize?${new URLSearchParams({ session: session.session.id, redirect_uri: redirectUri, state })}`;
  const signIn = async (user: string, token: string): Promise<string> => {
    const response = await post('/login', form({ user, token, next: '/' }));
    assert.equal(response.status, 303);
    return setCookieOf(response, 'berth_login')!.pair;
  };

  before(async () => {
    berth = await startBerth();
    adaToken = await berth.user('ada');
    bobToken = await berth.user('bob');
    adaSession = await createSession(adaToken, { workspace: 'ada', private: false });
    adaPrivate = await createSession(adaToken, { workspace: 'ada', private: true });
  });
  after(() => berth?.close());

  describe('GET /login', () => {
    it('shows a self-contained form with user name, API token and where to go next, escaped', async () => {
      const next = '/connect/authorize?a="><script>alert(1)</script>';
      const response = await get(`/login?next=${encodeURIComponent(next)}`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type')!, /^text\/html/);
      assert.match(response.headers.get('content-security-policy')!, /default-src 'none'/);
      assert.match(response.headers.get('content-security-policy')!, /frame-ancestors 'none'/);
      assert.equal(response.headers.get('cache-control'), 'no-store');
      const html = await response.text();
      assert.match(html, /<form method="post" action="\/login">/);
      assert.match(html, /name="user"/);
      assert.match(html, /name="token" type="password"/);
      assert.ok(!html.includes('<script>'), 'no script, and the next path is escaped');
      assert.ok(html.includes('value="/connect/authorize?a=&#34;&#62;&#60;script&#62;alert(1)&#60;/script&#62;"'), html);
      assert.ok(!/(src|href)="https?:/.test(html), 'no external assets');
    });
  });

  describe('POST /login', () => {
    it('right user name and token: the berth_login cookie (host-only, HttpOnly, SameSite=Lax, Path=/) and 303 to next', async () => {
      const response = await post('/login', form({ user: 'ada', token: adaToken, next: '/connect/authorize?session=x' }));
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/connect/authorize?session=x');
      const cookie = setCookieOf(response, 'berth_login');
      assert.match(cookie!.pair, /^berth_login=bwl_[\w-]{43}$/);
      assert.deepEqual(cookie!.attributes, ['httponly', `max-age=${12 * 3600}`, 'path=/', 'samesite=lax']);
    });

    it('a wrong token, a wrong user name for a right token, or nothing: the form again with an error, 401', async () => {
      for (const fields of [{ user: 'ada', token: 'berth_wrong-token-0123456789abcdef' }, { user: 'bob', token: adaToken }, { user: '', token: '' }]) {
        const response = await post('/login', form({ ...fields, next: '/x' }));
        assert.equal(response.status, 401, JSON.stringify(fields));
        assert.equal(response.headers.getSetCookie().length, 0);
        const html = await response.text();
        assert.match(html, /Wrong user name or API token/);
        assert.match(html, /name="next" value="\/x"/);
      }
    });

    it('a token without the api scope may not sign in', async () => {
      const created = await berth.api<{ secret: string }>('POST', '/api/users/ada/tokens', { name: 'pull', scopes: ['registry:pull'] }, adaToken);
      const response = await post('/login', form({ user: 'ada', token: created.body.secret }));
      assert.equal(response.status, 403);
      assert.match(await response.text(), /lacks the api scope/);
    });

    it('next must be a path on this host: anything else becomes /', async () => {
      const cases: Array<[string, string]> = [
        ['/studios?x=1', '/studios?x=1'],
        ['//evil.example/', '/'],
        ['/\\evil.example/', '/'],
        ['https://evil.example/', '/'],
        ['javascript:alert(1)', '/'],
        ['', '/'],
      ];
      for (const [next, expected] of cases) {
        const response = await post('/login', form({ user: 'ada', token: adaToken, next }));
        assert.equal(response.headers.get('location'), expected, next);
      }
      assert.equal(safeNext('/a\r\nSet-Cookie: x=1'), '/');
      assert.equal(safeNext(`/${'a'.repeat(5000)}`), '/');
    });

    it('a post from another site is refused, without signing in', async () => {
      const response = await post('/login', form({ user: 'ada', token: adaToken }), { origin: 'http://evil.example' });
      assert.equal(response.status, 403);
      assert.equal(response.headers.getSetCookie().length, 0);
      const sameSite = await post('/login', form({ user: 'ada', token: adaToken }), { origin: berth.url });
      assert.equal(sameSite.status, 303);
    });

    it('other content types and oversized forms are refused', async () => {
      const json = await post('/login', JSON.stringify({ user: 'ada', token: adaToken }), { 'content-type': 'application/json' });
      assert.equal(json.status, 415);
      const huge = await post('/login', form({ user: 'ada', token: adaToken, next: `/${'a'.repeat(10_000)}` }));
      assert.equal(huge.status, 413);
    });
  });

  describe('POST /logout', () => {
    it('clears the cookie and ends the web login, so it authorizes nothing any more', async () => {
      const login = await signIn('ada', adaToken);
      assert.equal((await get(authorizePath(adaSession), { cookie: login })).status, 302);
      const response = await post('/logout', '', { cookie: login });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/login');
      assert.ok(setCookieOf(response, 'berth_login')!.attributes.includes('max-age=0'));
      const after = await get(authorizePath(adaSession), { cookie: login });
      assert.equal(after.status, 302);
      assert.match(after.headers.get('location')!, /^\/login\?next=/);
    });

    it('GET /logout only shows a button (a link elsewhere cannot sign anyone out)', async () => {
      const response = await get('/logout');
      assert.equal(response.status, 200);
      assert.match(await response.text(), /<form method="post" action="\/logout">/);
    });
  });

  describe('GET /connect/authorize', () => {
    it('without a login: 302 to /login, carrying this very request as next', async () => {
      const path = authorizePath(adaSession);
      const response = await get(path);
      assert.equal(response.status, 302);
      const location = new URL(response.headers.get('location')!, berth.url);
      assert.equal(location.pathname, '/login');
      assert.equal(location.searchParams.get('next'), path);
      assert.equal(safeNext(location.searchParams.get('next')), path, 'the login form accepts it as next');
    });

    it('with the login cookie: 302 to the session’s callback with a code and the state, unchanged', async () => {
      const login = await signIn('ada', adaToken);
      const response = await get(authorizePath(adaSession, callbackOf(adaSession), 'a b&c'), { cookie: login });
      assert.equal(response.status, 302);
      const location = new URL(response.headers.get('location')!);
      assert.equal(`${location.origin}${location.pathname}`, callbackOf(adaSession));
      assert.equal(location.searchParams.get('state'), 'a b&c');
      assert.match(location.searchParams.get('code')!, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    });

    it('with an API token in Authorization (programs): the same redirect; a bad token is 401, not a login page', async () => {
      const response = await get(authorizePath(adaSession), { authorization: `Bearer ${adaToken}` });
      assert.equal(response.status, 302);
      assert.ok(response.headers.get('location')!.startsWith(`${callbackOf(adaSession)}?code=`));
      const bad = await get(authorizePath(adaSession), { authorization: 'Bearer berth_not-a-token-0123456789abcdef' });
      assert.equal(bad.status, 401);
      assert.equal(bad.headers.get('location'), null);
    });

    it('never redirects anywhere but the session’s own callback (no open redirect)', async () => {
      const other = await createSession(adaToken, { workspace: 'ada', private: false });
      const bad = [
        'http://evil.example/_berth/callback',
        `${adaSession.studioUrl}_berth/callback/../../evil`,
        `${adaSession.studioUrl}_berth/callback?x=1`,
        `${adaSession.studioUrl}`,
        callbackOf(other),
        callbackOf(adaSession).replace('http://', 'https://'),
      ];
      for (const redirectUri of bad) {
        const response = await get(authorizePath(adaSession, redirectUri), { authorization: `Bearer ${adaToken}` });
        assert.equal(response.status, 400, redirectUri);
        assert.equal(response.headers.get('location'), null);
        assert.match(await response.text(), /redirect_uri must be the callback address/);
      }
    });

    it('an unknown session: a 404 page', async () => {
      const unknown = { session: { id: 'nosuchsession0000' }, studioUrl: 'http://nosuchsession0000.localhost/' };
      const response = await get(authorizePath(unknown), { authorization: `Bearer ${adaToken}` });
      assert.equal(response.status, 404);
      assert.match(response.headers.get('content-type')!, /^text\/html/);
      assert.match(await response.text(), /There is no session nosuchsession0000/);
    });

    it('a user who may not open the session: a 403 page that says why, and offers another sign-in', async () => {
      const login = await signIn('bob', bobToken);
      const shared = await get(authorizePath(adaSession), { cookie: login });
      assert.equal(shared.status, 403);
      const html = await shared.text();
      assert.match(html, /needs role launch/);
      assert.match(html, /href="\/login\?next=/);
      const privateOne = await get(authorizePath(adaPrivate), { authorization: `Bearer ${berth.adminToken}` });
      assert.equal(privateOne.status, 403);
      assert.match(await privateOne.text(), /private/);
    });

    it('missing parameters: 400', async () => {
      for (const query of ['', `?session=${adaSession.session.id}`, `?session=${adaSession.session.id}&redirect_uri=${encodeURIComponent(callbackOf(adaSession))}`]) {
        const response = await get(`/connect/authorize${query}`, { authorization: `Bearer ${adaToken}` });
        assert.equal(response.status, 400, query);
      }
    });
  });
});
