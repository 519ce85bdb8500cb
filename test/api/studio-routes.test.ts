import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';

interface StudioBody {
  studio: { sessionId: string; name: string; isPrivate: boolean; statusInfo: { status: string }; configuration: { cpu: number; memory: number; environment: Record<string, string> }; template: { tool: string } };
}
type ErrorBody = { error: { code: string; message: string } };

const template = { repository: 'cr.example.org/studios/web', tool: 'web', versions: ['1.0-1'], hostCommand: ['true'] };

describe('studios API: who may use Studios, and where', () => {
  let berth: TestBerth;
  before(async () => {
    berth = await startBerth({ config: { studios: { allowedWorkspaces: ['team'], templates: { web: template } } as never } });
    await berth.api('POST', '/api/workspaces', { slug: 'team' });
  });
  after(() => berth?.close());

  it('a workspace left out of studios.allowedWorkspaces is refused with the setting named', async () => {
    for (const [method, path] of [['GET', '/api/studios?workspaceId=admin'], ['POST', '/api/studios?workspaceId=admin']] as const) {
      const answer = await berth.api<ErrorBody>(method, path, method === 'POST' ? { name: 'x', templateKey: 'web' } : undefined);
      assert.equal(answer.status, 403, path);
      assert.equal(answer.body.error.code, 'STUDIOS_DISABLED');
      assert.match(answer.body.error.message, /studios\.allowedWorkspaces/);
    }
  });

  it('a listed workspace may (by slug or by id)', async () => {
    const listed = await berth.api<{ studios: unknown[]; totalSize: number }>('GET', '/api/studios?workspaceId=team');
    assert.equal(listed.status, 200, JSON.stringify(listed.body));
    assert.deepEqual(listed.body, { studios: [], totalSize: 0 });
  });
});

describe('studios API: Studios disabled by default', () => {
  let berth: TestBerth;
  before(async () => {
    berth = await startBerth();
  });
  after(() => berth?.close());

  it('with no allowedWorkspaces configured, no workspace may use Studios', async () => {
    const answer = await berth.api<ErrorBody>('GET', '/api/studios?workspaceId=admin');
    assert.equal(answer.status, 403);
    assert.equal(answer.body.error.code, 'STUDIOS_DISABLED');
  });
});

describe('studios API: roles, private studios and validation', () => {
  let berth: TestBerth;
  const tokens: Record<string, string> = {};
  let shared: string;
  let secret: string;

  before(async () => {
    berth = await startBerth({ config: { studios: { allowedWorkspaces: null, templates: { web: template } } as never } });
    await berth.api('POST', '/api/workspaces', { slug: 'lab' });
    for (const [name, role] of [['viewer', 'view'], ['alice', 'launch'], ['bob', 'launch'], ['maintainer', 'maintain']] as const) {
      tokens[name] = await berth.user(name);
      await berth.role('lab', name, role);
    }
    tokens.outsider = await berth.user('outsider');
    const denied = await berth.api<ErrorBody>('POST', '/api/compute-envs?workspaceId=lab', { computeEnv: { name: 'local', platform: 'local', config: {} } }, tokens.maintainer);
    assert.equal(denied.status, 403, 'a local environment runs code as Berth itself: system administrators only');
    const local = await berth.api('POST', '/api/compute-envs?workspaceId=lab', { computeEnv: { name: 'local', platform: 'local', config: {} } });
    assert.equal(local.status, 201, JSON.stringify(local.body));
    const none = await berth.api<ErrorBody>('POST', '/api/studios?workspaceId=outsider', { name: 'x', templateKey: 'web' }, tokens.outsider);
    assert.equal(none.status, 400, 'a workspace gets no compute environment by itself');
    assert.match(none.body.error.message, /no available compute environment/);
    const a = await berth.api<StudioBody>('POST', '/api/studios?workspaceId=lab', { name: 'shared', templateKey: 'web' }, tokens.alice);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    shared = a.body.studio.sessionId;
    const b = await berth.api<StudioBody>('POST', '/api/studios?workspaceId=lab', { name: 'secret', templateKey: 'web', isPrivate: true }, tokens.alice);
    assert.equal(b.status, 200, JSON.stringify(b.body));
    secret = b.body.studio.sessionId;
  });
  after(() => berth?.close());

  it('view may list and read but not create', async () => {
    const listed = await berth.api<{ studios: Array<{ name: string }>; totalSize: number }>('GET', '/api/studios?workspaceId=lab', undefined, tokens.viewer);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.studios.map((s) => s.name), ['shared'], 'a private studio is listed for its creator only');
    assert.equal(listed.body.totalSize, 1);
    const created = await berth.api<ErrorBody>('POST', '/api/studios?workspaceId=lab', { name: 'mine', templateKey: 'web' }, tokens.viewer);
    assert.equal(created.status, 403);
    assert.match(created.body.error.message, /launch/);
  });

  it('a non-member sees no workspace', async () => {
    assert.equal((await berth.api('GET', '/api/studios?workspaceId=lab', undefined, tokens.outsider)).status, 404);
    assert.equal((await berth.api('GET', `/api/studios/${shared}`, undefined, tokens.outsider)).status, 404);
    assert.equal((await berth.api('PUT', `/api/studios/${shared}/start`, undefined, tokens.outsider)).status, 404);
  });

  it("a private studio is invisible to everyone but its creator, maintainers included", async () => {
    for (const name of ['bob', 'maintainer', 'viewer']) {
      assert.equal((await berth.api('GET', `/api/studios/${secret}`, undefined, tokens[name])).status, 404, name);
      assert.equal((await berth.api('PUT', `/api/studios/${secret}/start`, undefined, tokens[name])).status, 404, name);
    }
    assert.equal((await berth.api('GET', `/api/studios/${secret}`, undefined, tokens.alice)).status, 200);
  });

  it("launch may not stop, change or delete someone else's studio; maintain may", async () => {
    for (const [method, path, body] of [['PUT', `/api/studios/${shared}/stop`, undefined], ['PUT', `/api/studios/${shared}`, { description: 'x' }], ['DELETE', `/api/studios/${shared}`, undefined]] as const) {
      const denied = await berth.api<ErrorBody>(method, path, body, tokens.bob);
      assert.equal(denied.status, 403, `${method} ${path}`);
      assert.match(denied.body.error.message, /maintain/);
    }
    assert.equal((await berth.api('PUT', `/api/studios/${shared}/stop`, undefined, tokens.maintainer)).status, 200);
    assert.equal((await berth.api('PUT', `/api/studios/${shared}`, { description: 'checked' }, tokens.maintainer)).status, 200);
  });

  it('bad input is refused with the field named, and creates nothing', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'c1', templateKey: 'web', configuration: { condaEnvironment: 'x'.repeat(2049) } }, /condaEnvironment.*2048/],
      [{ name: 'c2', templateKey: 'web', configuration: { condaEnvironment: 'dependencies: [[[' } }, /condaEnvironment/],
      [{ name: 'c3', templateKey: 'web', configuration: { environment: { BERTH_SESSION_TOKEN: 'x' } } }, /environment/],
      [{ name: 'c4', templateKey: 'nope' }, /no template "nope"/],
      [{ name: 'c5' }, /templateKey|dataStudioToolUrl|remoteConfig/],
      [{ name: '', templateKey: 'web' }, /name/],
      [{ name: 'c6', templateKey: 'web', computeEnvId: 'ce_missing' }, /computeEnvId/],
      [{ name: 'c7', templateKey: 'web', surprise: true }, /surprise|Unrecognized/i],
    ];
    for (const [body, message] of cases) {
      const answer = await berth.api<ErrorBody>('POST', '/api/studios?workspaceId=lab', body, tokens.alice);
      assert.equal(answer.status, 400, JSON.stringify(body).slice(0, 100));
      assert.match(answer.body.error.message, message);
    }
    const duplicate = await berth.api<ErrorBody>('POST', '/api/studios?workspaceId=lab', { name: 'shared', templateKey: 'web' }, tokens.bob);
    assert.equal(duplicate.status, 409);
    const listed = await berth.api<{ totalSize: number }>('GET', '/api/studios?workspaceId=lab', undefined, tokens.alice);
    assert.equal(listed.body.totalSize, 2);
  });

  it('lists by name, status and user with max/offset', async () => {
    const byName = await berth.api<{ studios: Array<{ name: string }> }>('GET', '/api/studios?workspaceId=lab&search=SHA', undefined, tokens.alice);
    assert.deepEqual(byName.body.studios.map((s) => s.name), ['shared']);
    const byStatus = await berth.api<{ studios: unknown[] }>('GET', '/api/studios?workspaceId=lab&status=running', undefined, tokens.alice);
    assert.equal(byStatus.body.studios.length, 0);
    const byUser = await berth.api<{ studios: unknown[] }>('GET', '/api/studios?workspaceId=lab&user=bob', undefined, tokens.alice);
    assert.equal(byUser.body.studios.length, 0);
    const page = await berth.api<{ studios: unknown[]; totalSize: number }>('GET', '/api/studios?workspaceId=lab&max=1&offset=1', undefined, tokens.alice);
    assert.equal(page.body.studios.length, 1);
    assert.equal(page.body.totalSize, 2);
    const badStatus = await berth.api('GET', '/api/studios?workspaceId=lab&status=flying', undefined, tokens.alice);
    assert.equal(badStatus.status, 400);
  });

  it('describes a studio with its defaults and template', async () => {
    const described = await berth.api<StudioBody>('GET', `/api/studios/${shared}`, undefined, tokens.alice);
    assert.equal(described.body.studio.template.tool, 'web');
    assert.equal(described.body.studio.configuration.cpu, 2);
    assert.equal(described.body.studio.statusInfo.status, 'stopped');
  });
});
