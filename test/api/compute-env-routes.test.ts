import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startBerth, type TestBerth } from '../support/berth.ts';

interface ComputeEnvView {
  id: string;
  name: string;
  platform: string;
  config: Record<string, unknown>;
  credentialsId: string | null;
  status: 'AVAILABLE' | 'INVALID';
  message: string | null;
  lastChecked: string | null;
  dateCreated: string;
  lastUpdated: string;
  workspaceId: string;
}
type ErrorAnswer = { error: { code: string; message: string } };

describe('/api/compute-envs', () => {
  let berth: TestBerth;
  const tokens: Record<'viewer' | 'launcher' | 'maintainer' | 'outsider', string> = { viewer: '', launcher: '', maintainer: '', outsider: '' };
  let adminWorkspaceId: string;

  before(async () => {
    berth = await startBerth();
    for (const name of Object.keys(tokens) as Array<keyof typeof tokens>) tokens[name] = await berth.user(name);
    await berth.role('admin', 'viewer', 'view');
    await berth.role('admin', 'launcher', 'launch');
    await berth.role('admin', 'maintainer', 'maintain');
    adminWorkspaceId = (await berth.server.database.db.selectFrom('workspaces').select('id').where('slug', '=', 'admin').executeTakeFirstOrThrow()).id;
  });
  after(async () => {
    await berth?.close();
  });

  const create = (body: unknown, token?: string, workspace = 'admin') => berth.api<{ computeEnvId: string } & ErrorAnswer>('POST', `/api/compute-envs?workspaceId=${workspace}`, body, token);

  it('creates, describes, lists and deletes a local environment, checked on create', async () => {
    const created = await create({ computeEnv: { name: 'here', platform: 'local', config: {} } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.computeEnvId;
    assert.match(id, /^ce_/);

    const described = await berth.api<{ computeEnv: ComputeEnvView }>('GET', `/api/compute-envs/${id}`);
    assert.equal(described.status, 200);
    const env = described.body.computeEnv;
    assert.deepEqual(
      { ...env, lastChecked: typeof env.lastChecked, dateCreated: typeof env.dateCreated, lastUpdated: typeof env.lastUpdated },
      { id, name: 'here', platform: 'local', config: {}, credentialsId: null, credentialsName: null, status: 'AVAILABLE', message: null, lastChecked: 'string', dateCreated: 'string', lastUpdated: 'string', workspaceId: adminWorkspaceId },
    );

    const listed = await berth.api<{ computeEnvs: ComputeEnvView[] }>('GET', `/api/compute-envs?workspaceId=${adminWorkspaceId}`);
    assert.equal(listed.status, 200);
    assert.ok(listed.body.computeEnvs.some((e) => e.id === id));

    assert.equal((await berth.api('DELETE', `/api/compute-envs/${id}?workspaceId=admin`)).status, 204);
    assert.equal((await berth.api('GET', `/api/compute-envs/${id}`)).status, 404);
  });

  it('refuses bad requests with 400 naming the field, and a taken name with 409', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ computeEnv: { name: 'x', platform: 'docker', config: { socket: 'relative.sock' } } }, /^computeEnv\.config\.socket: must be the absolute path/],
      [{ computeEnv: { name: 'x', platform: 'vm' } }, /^computeEnv\.platform: /],
      [{ computeEnv: { name: 'x', platform: 'local', config: { typo: 1 } } }, /^computeEnv\.config\.typo: unknown field/],
      [{ name: 'x', platform: 'local' }, /^computeEnv: must be \{name, platform, config, credentialsId\?\}/],
    ];
    for (const [body, message] of cases) {
      const answer = await create(body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.error.code, 'INVALID_REQUEST');
      assert.match(answer.body.error.message, message);
    }
    assert.equal((await create({ computeEnv: { name: 'twice', platform: 'local' } })).status, 201);
    const again = await create({ computeEnv: { name: 'twice', platform: 'local' } });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'CONFLICT');
    const listed = await berth.api<{ computeEnvs: ComputeEnvView[] }>('GET', '/api/compute-envs?workspaceId=admin');
    assert.deepEqual(listed.body.computeEnvs.filter((e) => e.name === 'x' || e.name === 'twice').map((e) => e.name), ['twice']);
  });

  it('lets view list and read, maintain add, check and delete; others learn nothing', async () => {
    const id = (await create({ computeEnv: { name: 'roles', platform: 'local' } })).body.computeEnvId;
    for (const who of ['viewer', 'launcher'] as const) {
      assert.equal((await berth.api('GET', '/api/compute-envs?workspaceId=admin', undefined, tokens[who])).status, 200, who);
      assert.equal((await berth.api('GET', `/api/compute-envs/${id}`, undefined, tokens[who])).status, 200, who);
      const added = await create({ computeEnv: { name: `by-${who}`, platform: 'local' } }, tokens[who]);
      assert.equal(added.status, 403, who);
      assert.match(added.body.error.message, /takes the maintain role/);
      assert.equal((await berth.api('POST', `/api/compute-envs/${id}/check`, undefined, tokens[who])).status, 403, who);
      assert.equal((await berth.api('DELETE', `/api/compute-envs/${id}`, undefined, tokens[who])).status, 403, who);
    }
    assert.equal((await berth.api('GET', '/api/compute-envs?workspaceId=admin', undefined, tokens.outsider)).status, 403);
    for (const [method, path] of [['GET', `/api/compute-envs/${id}`], ['DELETE', `/api/compute-envs/${id}`], ['POST', `/api/compute-envs/${id}/check`], ['GET', `/api/compute-envs/${id}?workspaceId=admin`]] as const) {
      const answer = await berth.api<ErrorAnswer>(method, path, undefined, tokens.outsider);
      assert.equal(answer.status, 404, `${method} ${path}`);
      assert.equal(answer.body.error.message, `no compute environment with id "${id}"`);
    }
    // The outsider's own workspace does not reach into another's environments either.
    assert.equal((await berth.api('GET', `/api/compute-envs/${id}?workspaceId=outsider`, undefined, tokens.outsider)).status, 404);

    const local = await create({ computeEnv: { name: 'local-by-maintainer', platform: 'local' } }, tokens.maintainer);
    assert.equal(local.status, 403, "a local environment runs sessions as Berth's own user: system administrators only");
    assert.match(local.body.error.message, /only a system administrator/);
    const made = await create({ computeEnv: { name: 'by-maintainer', platform: 'docker', config: { socket: '/nonexistent/docker.sock' } } }, tokens.maintainer);
    assert.equal(made.status, 201);
    const checked = await berth.api<{ computeEnv: ComputeEnvView }>('POST', `/api/compute-envs/${made.body.computeEnvId}/check`, undefined, tokens.maintainer);
    assert.equal(checked.status, 200);
    assert.equal(checked.body.computeEnv.status, 'INVALID');
    assert.equal((await berth.api('DELETE', `/api/compute-envs/${made.body.computeEnvId}`, undefined, tokens.maintainer)).status, 204);
  });

  it('shows a docker environment without a daemon INVALID, then names the deleted credential on a re-check', async () => {
    const credential = await berth.api<{ credentialsId: string }>('POST', '/api/credentials?workspaceId=admin', {
      credentials: { name: 'registry-login', provider: 'container-reg', keys: { registry: 'registry.example.org', userName: 'me', password: 'secret' } },
    });
    assert.equal(credential.status, 201, JSON.stringify(credential.body));
    const socket = join(berth.dataDir, 'no-docker.sock');
    const created = await create({ computeEnv: { name: 'docker', platform: 'docker', config: { socket }, credentialsId: credential.body.credentialsId } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.computeEnvId;
    const env = (await berth.api<{ computeEnv: ComputeEnvView }>('GET', `/api/compute-envs/${id}`)).body.computeEnv;
    assert.equal(env.status, 'INVALID');
    assert.match(env.message ?? '', new RegExp(`^Docker daemon unreachable at ${socket}`));
    assert.equal(env.credentialsId, credential.body.credentialsId);
    assert.deepEqual(env.config, { socket, network: 'host' });

    assert.equal((await berth.api('DELETE', `/api/credentials/${credential.body.credentialsId}?workspaceId=admin`)).status, 204);
    const checked = await berth.api<{ computeEnv: ComputeEnvView }>('POST', `/api/compute-envs/${id}/check`);
    assert.equal(checked.status, 200);
    assert.equal(checked.body.computeEnv.status, 'INVALID');
    assert.equal(checked.body.computeEnv.message, 'the credential registry-login it uses was deleted');
    assert.equal(checked.body.computeEnv.credentialsId, null);
  });

  it('refuses to delete an environment a running studio uses (409)', async () => {
    const id = (await create({ computeEnv: { name: 'in-use', platform: 'local' } })).body.computeEnvId;
    const admin = await berth.server.database.db.selectFrom('users').select('id').where('name', '=', 'admin').executeTakeFirstOrThrow();
    const now = Date.now();
    await berth.server.database.db
      .insertInto('studios')
      .values({ session_id: 'sinuse', workspace_id: adminWorkspaceId, user_id: admin.id, name: 'notebook', description: null, definition: '{}', compute_env_id: id, status: 'running', status_message: null, stop_reason: null, status_at: now, run: null, created_at: now, updated_at: now, last_started_at: now })
      .execute();
    const refused = await berth.api<ErrorAnswer>('DELETE', `/api/compute-envs/${id}`);
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.message, 'compute environment in-use is in use by studio notebook: stop it first');
    assert.equal((await berth.api('GET', `/api/compute-envs/${id}`)).status, 200);
  });
});
