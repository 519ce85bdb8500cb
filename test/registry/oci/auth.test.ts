import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { basic, startBerth, type TestBerth } from '../../support/berth.ts';
import { adminClient, createWorkspace, expectOciError, OciClient, randomBlob, uniqueName, userClient } from './support.ts';

interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

const bearer = (token: string) => `Bearer ${token}`;

// end-1 (GET /v2/), the token endpoint, and who may pull and push.
describe('OCI registry authentication and authorization', () => {
  let berth: TestBerth;
  let admin: OciClient;
  let anonymous: OciClient;
  const team = uniqueName('team');
  const app = `${team}/app`;

  before(async () => {
    berth = await startBerth();
    admin = adminClient(berth);
    anonymous = new OciClient(berth);
    await createWorkspace(berth, team);
    await admin.pushImage(app, { tag: 'v1' });
  });
  after(() => berth?.close());

  const realm = () => `${berth.url}/v2/token`;

  /** GET /v2/token with query parameters, as `authorization` (or anonymously). */
  async function getToken(query: Record<string, string | string[]>, authorization?: string): Promise<Response> {
    const params = new URLSearchParams({ service: 'berth' });
    for (const [key, values] of Object.entries(query)) for (const value of [values].flat()) params.append(key, value);
    return fetch(`${realm()}?${params}`, { headers: authorization ? { Authorization: authorization } : {} });
  }

  async function grantedToken(query: Record<string, string | string[]>, authorization?: string): Promise<TokenResponse> {
    const response = await getToken(query, authorization);
    assert.equal(response.status, 200, await response.clone().text());
    return (await response.json()) as TokenResponse;
  }

  const accessOf = (token: string) => decodeJwt(token).access as AccessEntry[];

  /** POST /v2/token with an OAuth2 form. */
  function postToken(form: Record<string, string>): Promise<Response> {
    return fetch(realm(), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ service: 'berth', client_id: 'test', ...form }).toString(),
    });
  }

  const pull = (client: OciClient, name = app) => client.fetch(`/v2/${name}/manifests/v1`);
  const push = (client: OciClient, name = app) => client.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });

  describe('GET /v2/', () => {
    it('anonymous: 401 with exactly the Bearer challenge naming realm and service', async () => {
      const response = await anonymous.fetch('/v2/');
      assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${realm()}",service="berth"`);
      assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
      await expectOciError(response, 401, 'UNAUTHORIZED');
    });

    it('signed in with basic auth: 200', async () => {
      const response = await admin.fetch('/v2/');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
    });

    it('basic auth with a wrong password, or another user name, is 401 with the challenge', async () => {
      for (const authorization of [basic('admin', 'berth_not-the-right-token-0123456789'), basic('someone', berth.adminToken), basic('admin', 'short')]) {
        const response = await anonymous.as(authorization).fetch('/v2/');
        assert.equal(response.headers.get('www-authenticate'), `Bearer realm="${realm()}",service="berth"`);
        await expectOciError(response, 401, 'UNAUTHORIZED');
      }
    });

    it('an invalid bearer token is 401 with error="invalid_token"', async () => {
      const response = await anonymous.as(bearer('not.a.jwt')).fetch('/v2/');
      assert.match(response.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
      await expectOciError(response, 401, 'UNAUTHORIZED');
    });
  });

  describe('token endpoint', () => {
    let carol: string;
    before(async () => {
      carol = await berth.user('carol');
      await berth.role(team, 'carol', 'view');
    });

    it('a wrong password is 401 UNAUTHORIZED, on GET and on POST', async () => {
      await expectOciError(await getToken({ scope: `repository:${app}:pull` }, basic('carol', 'berth_wrong-wrong-wrong-wrong-wrong')), 401, 'UNAUTHORIZED');
      await expectOciError(await postToken({ grant_type: 'password', username: 'carol', password: 'berth_wrong-wrong-wrong-wrong' }), 401, 'UNAUTHORIZED');
      await expectOciError(await postToken({ grant_type: 'password', username: 'admin', password: carol }), 401, 'UNAUTHORIZED');
    });

    it('GET with scopes returns a JWT whose access claim grants exactly what the user may do', async () => {
      const own = `carol/${uniqueName('own')}`;
      const body = await grantedToken(
        { scope: [`repository:${app}:pull,push`, `repository:${own}:pull,push,delete`, `repository:admin/${uniqueName('x')}:pull`] },
        basic('carol', carol),
      );
      assert.equal(body.token, body.access_token);
      assert.ok(body.expires_in > 0);
      const claims = decodeJwt(body.token);
      assert.equal(claims.sub, 'carol');
      assert.equal(claims.aud, 'berth');
      assert.deepEqual(accessOf(body.token), [
        { type: 'repository', name: app, actions: ['pull'] },
        { type: 'repository', name: own, actions: ['pull', 'push', 'delete'] },
      ]);
    });

    it('the granted token pulls what it grants and answers insufficient_scope for the rest', async () => {
      const { token } = await grantedToken({ scope: `repository:${app}:pull,push` }, basic('carol', carol));
      const client = anonymous.as(bearer(token));
      assert.equal((await pull(client)).status, 200);
      const refused = await push(client);
      assert.equal(
        refused.headers.get('www-authenticate'),
        `Bearer realm="${realm()}",service="berth",scope="repository:${app}:pull,push",error="insufficient_scope"`,
      );
      await expectOciError(refused, 401, 'UNAUTHORIZED');
      const other = await pull(client, `carol/${uniqueName('unnamed')}`);
      assert.match(other.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
      assert.equal(other.status, 401);
    });

    it('POST grant_type=password returns a refresh token, and grant_type=refresh_token works with it', async () => {
      const login = await postToken({ grant_type: 'password', username: 'carol', password: carol, scope: `repository:${app}:pull` });
      assert.equal(login.status, 200, await login.clone().text());
      const first = (await login.json()) as TokenResponse;
      assert.ok(first.refresh_token, 'no refresh_token');
      assert.deepEqual(accessOf(first.access_token), [{ type: 'repository', name: app, actions: ['pull'] }]);

      const refreshed = await postToken({ grant_type: 'refresh_token', refresh_token: first.refresh_token, scope: `repository:${app}:pull` });
      assert.equal(refreshed.status, 200, await refreshed.clone().text());
      const second = (await refreshed.json()) as TokenResponse;
      assert.deepEqual(accessOf(second.access_token), [{ type: 'repository', name: app, actions: ['pull'] }]);
      assert.equal((await pull(anonymous.as(bearer(second.access_token)))).status, 200);
    });

    it('GET with offline_token=true returns a refresh token too', async () => {
      const body = await grantedToken({ offline_token: 'true', client_id: 'docker', scope: `repository:${app}:pull` }, basic('carol', carol));
      assert.ok(body.refresh_token);
    });

    it('a refresh token stops working once its API token is revoked', async () => {
      const created = await berth.api<{ token: { id: string }; secret: string }>('POST', '/api/users/carol/tokens', { name: 'laptop' });
      assert.equal(created.status, 201);
      const login = (await (await postToken({ grant_type: 'password', username: 'carol', password: created.body.secret })).json()) as TokenResponse;
      assert.ok(login.refresh_token);
      assert.equal((await postToken({ grant_type: 'refresh_token', refresh_token: login.refresh_token })).status, 200);

      assert.equal((await berth.api('DELETE', `/api/users/carol/tokens/${created.body.token.id}`)).status, 204);
      await expectOciError(await postToken({ grant_type: 'refresh_token', refresh_token: login.refresh_token }), 401, 'UNAUTHORIZED');
      await expectOciError(await getToken({}, basic('carol', created.body.secret)), 401, 'UNAUTHORIZED');
    });

    it('a malformed refresh token and an unknown grant type are refused', async () => {
      await expectOciError(await postToken({ grant_type: 'refresh_token', refresh_token: 'garbage' }), 401, 'UNAUTHORIZED');
      const response = await postToken({ grant_type: 'client_credentials' });
      assert.equal(response.status, 400, await response.text());
    });
  });

  describe('API token scopes', () => {
    let dora: string;
    let doraPullOnly: OciClient;
    const own = () => `dora/${uniqueName('own')}`;

    before(async () => {
      dora = await berth.user('dora');
      const narrowed = await berth.api<{ secret: string }>('POST', '/api/users/dora/tokens', { name: 'ci', scopes: ['registry:pull'] });
      doraPullOnly = anonymous.as(basic('dora', narrowed.body.secret));
    });

    it('a pull-only token pulls but cannot push, even to its owner\'s workspace (403 DENIED)', async () => {
      const name = own();
      await anonymous.as(basic('dora', dora)).pushImage(name, { tag: 'v1' });
      assert.equal((await pull(doraPullOnly, name)).status, 200);
      await expectOciError(await push(doraPullOnly, name), 403, 'DENIED');
    });

    it('through the token endpoint, a pull-only token is granted pull only, and a push gets insufficient_scope', async () => {
      const name = own();
      const { token } = await grantedToken({ scope: `repository:${name}:pull,push` }, doraPullOnly.authorization);
      assert.deepEqual(accessOf(token), [{ type: 'repository', name, actions: ['pull'] }]);
      const refused = await push(anonymous.as(bearer(token)), name);
      assert.match(refused.headers.get('www-authenticate') ?? '', /error="insufficient_scope"/);
      await expectOciError(refused, 401, 'UNAUTHORIZED');
    });
  });

  describe('workspace roles', () => {
    const clients: Record<string, OciClient> = {};
    before(async () => {
      for (const role of ['view', 'launch', 'maintain', 'admin', 'owner']) {
        clients[role] = await userClient(berth, `role-${role}`);
        await berth.role(team, `role-${role}`, role);
      }
      clients.none = await userClient(berth, 'outsider');
    });

    for (const [role, mayPull, mayPush] of [
      ['view', true, false],
      ['launch', true, false],
      ['maintain', true, true],
      ['admin', true, true],
      ['owner', true, true],
      ['none', false, false],
    ] as const) {
      it(`${role === 'none' ? 'a non-member' : role}: ${mayPull ? 'pulls' : 'cannot pull'}, ${mayPush ? 'pushes' : 'cannot push'}`, async () => {
        const client = clients[role]!;
        if (mayPull) assert.equal((await pull(client)).status, 200);
        else await expectOciError(await pull(client), 403, 'DENIED');
        if (mayPush) await client.pushBlob(app, randomBlob(32));
        else await expectOciError(await push(client), 403, 'DENIED');
      });
    }

    it('maintain may delete manifests; view may not', async () => {
      const target = await clients.maintain!.pushImage(app);
      await expectOciError(await clients.view!.fetch(`/v2/${app}/manifests/${target.digest}`, { method: 'DELETE' }), 403, 'DENIED');
      assert.equal((await clients.maintain!.fetch(`/v2/${app}/manifests/${target.digest}`, { method: 'DELETE' })).status, 202);
    });
  });

  describe('public repositories', () => {
    it('anonymous pull is challenged until the repository is made public, then works; push stays refused', async () => {
      const name = `${team}/${uniqueName('pub')}`;
      await admin.pushImage(name, { tag: 'v1' });
      const before = await pull(anonymous, name);
      assert.equal(before.headers.get('www-authenticate'), `Bearer realm="${realm()}",service="berth",scope="repository:${name}:pull"`);
      await expectOciError(before, 401, 'UNAUTHORIZED');
      assert.deepEqual(accessOf((await grantedToken({ scope: `repository:${name}:pull` })).token), []);

      const made = await berth.api('PATCH', `/api/registry/repositories/${name}`, { public: true });
      assert.equal(made.status, 200, JSON.stringify(made.body));

      assert.equal((await pull(anonymous, name)).status, 200);
      const { token } = await grantedToken({ scope: `repository:${name}:pull,push` });
      assert.deepEqual(accessOf(token), [{ type: 'repository', name, actions: ['pull'] }]);
      assert.equal((await pull(anonymous.as(bearer(token)), name)).status, 200);
      await expectOciError(await push(anonymous, name), 401, 'UNAUTHORIZED');
      await expectOciError(await push(anonymous.as(bearer(token)), name), 401, 'UNAUTHORIZED');
    });
  });
});
