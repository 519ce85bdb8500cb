import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ComputeEnvUnavailable, requireAvailable } from '../../../src/studios/compute/compute-checks.ts';
import { ComputeEnvError, type ComputeEnv } from '../../../src/studios/compute/compute-envs.ts';
import { computeFixture, type ComputeFixture } from './compute-fixture.ts';

let fixture: ComputeFixture;

before(async () => {
  fixture = await computeFixture();
});
after(async () => {
  await fixture.close();
});

const rowCount = async () => Number((await fixture.database.db.selectFrom('compute_envs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

describe('local compute environments', () => {
  it('is AVAILABLE on this host, with its default settings', async () => {
    const workspace = await fixture.workspace('local-user');
    const env = await fixture.envs.create(workspace, { name: 'here', platform: 'local' }, null);
    assert.equal(env.status, 'AVAILABLE', env.statusReason ?? '');
    assert.equal(env.statusReason, null);
    assert.ok(env.checkedAt !== null);
    assert.match(env.id, /^ce_[0-9a-f]{16}$/);
    assert.deepEqual(env.config, {});
    assert.deepEqual(await fixture.envs.get(env.id, workspace.id), env);
    assert.doesNotThrow(() => requireAvailable(env));
  });

  it('ensureDefaultLocal makes a `local` environment for a workspace without one, once', async () => {
    const workspace = await fixture.workspace('fresh');
    const made = await fixture.envs.ensureDefaultLocal(workspace);
    assert.equal(made?.name, 'local');
    assert.equal(made?.platform, 'local');
    assert.equal(made?.status, 'AVAILABLE');
    assert.equal(await fixture.envs.ensureDefaultLocal(workspace), undefined);
    assert.deepEqual((await fixture.envs.list(workspace.id)).map((env) => env.name), ['local']);
    assert.equal((await fixture.envs.defaultFor(workspace.id))?.id, made!.id);
    assert.equal((await fixture.envs.findByRef(workspace.id, 'local'))?.id, made!.id);
    assert.equal((await fixture.envs.findByRef(workspace.id, made!.id))?.name, 'local');
  });
});

describe('validation', () => {
  it('refuses bad requests, naming the field, and changes nothing', async () => {
    const workspace = await fixture.workspace('validation');
    const github = await fixture.credentials.create(workspace, { name: 'gh', provider: 'github', keys: { password: 'ghp_secret' } });
    await fixture.envs.create(workspace, { name: 'taken', platform: 'local' }, null);
    const cases: Array<[unknown, RegExp]> = [
      [{ name: 'x', platform: 'mainframe' }, /platform/],
      [{ name: 'bad name!', platform: 'local' }, /^name: /],
      [{ name: 'x', platform: 'local', config: { workDir: 'relative/dir' } }, /^config\.workDir: must be an absolute path/],
      [{ name: 'x', platform: 'local', config: { socket: '/var/run/docker.sock' } }, /^config\.socket: unknown field/],
      [{ name: 'x', platform: 'docker', config: { socket: 'docker.sock' } }, /^config\.socket: must be the absolute path/],
      [{ name: 'x', platform: 'kubernetes', config: { agentImage: 'a/b:1' }, credentialsId: github.id }, /^config\.server: /],
      [{ name: 'x', platform: 'kubernetes', config: { server: 'https://k8s.example.org', agentImage: 'a/b:1', namespace: 'Bad_NS' }, credentialsId: github.id }, /^config\.namespace: /],
      [{ name: 'x', platform: 'kubernetes', config: { server: 'https://k8s.example.org', agentImage: 'a/b:1', workspaceSize: 'lots' }, credentialsId: github.id }, /^config\.workspaceSize: /],
      [{ name: 'x', platform: 'kubernetes', config: { server: 'https://k8s.example.org', agentImage: 'a/b:1' } }, /^credentialsId: a kubernetes compute environment needs a credential/],
      [{ name: 'x', platform: 'local', credentialsId: github.id }, /^credentialsId: a local compute environment takes no credential/],
      [{ name: 'x', platform: 'docker', credentialsId: github.id }, /^credentialsId: credential gh is a github credential; a docker compute environment takes a container registry login/],
      [{ name: 'x', platform: 'docker', credentialsId: 'no-such-id' }, /^credentialsId: no credentials with id "no-such-id" in workspace validation/],
    ];
    const before = await rowCount();
    for (const [input, message] of cases) {
      await assert.rejects(
        () => fixture.envs.create(workspace, input, null),
        (error: Error) => error instanceof ComputeEnvError && error.code === 'INVALID' && message.test(error.message),
        JSON.stringify(input),
      );
    }
    await assert.rejects(
      () => fixture.envs.create(workspace, { name: 'taken', platform: 'docker' }, null),
      (error: Error) => error instanceof ComputeEnvError && error.code === 'CONFLICT' && /already has a compute environment named "taken"/.test(error.message),
    );
    assert.equal(await rowCount(), before);
    assert.deepEqual((await fixture.envs.list(workspace.id)).map((env) => env.name), ['taken']);
  });

  it('fills in the platform defaults', async () => {
    const workspace = await fixture.workspace('defaults');
    const docker = await fixture.envs.create(workspace, { name: 'd', platform: 'docker' }, null);
    assert.deepEqual(docker.config, { socket: '/var/run/docker.sock', network: 'host' });
    const unixUrl = await fixture.envs.create(workspace, { name: 'u', platform: 'docker', config: { socket: 'unix:///run/other.sock' } }, null);
    assert.deepEqual(unixUrl.config, { socket: '/run/other.sock', network: 'host' });
  });
});

describe('checks', () => {
  it('a docker environment whose socket does not exist is INVALID: Docker daemon unreachable', async () => {
    const workspace = await fixture.workspace('docker-user');
    const socket = join(fixture.dataDir, 'no-such-dir', 'docker.sock');
    const env = await fixture.envs.create(workspace, { name: 'docker', platform: 'docker', config: { socket } }, null);
    assert.equal(env.status, 'INVALID');
    assert.ok(env.statusReason?.startsWith(`Docker daemon unreachable at ${socket}`), env.statusReason ?? '');
    assert.equal((await fixture.envs.get(env.id))?.statusReason, env.statusReason, 'the reason is stored');
    assert.throws(
      () => requireAvailable(env),
      (error: Error) => error instanceof ComputeEnvUnavailable && error.message === `compute environment docker is not available: ${env.statusReason}`,
    );
    assert.equal(await fixture.envs.defaultFor(workspace.id), undefined, 'an INVALID environment is no default');
  });

  it('an environment whose credential was deleted is INVALID, saying so', async () => {
    const workspace = await fixture.workspace('cred-user');
    const login = await fixture.credentials.create(workspace, { name: 'registry-login', provider: 'container-reg', keys: { registry: 'registry.example.org', userName: 'me', password: 'secret' } });
    const env = await fixture.envs.create(workspace, { name: 'docker', platform: 'docker', config: { socket: join(fixture.dataDir, 'absent.sock') }, credentialsId: login.id }, null);
    assert.equal(env.credentialName, 'registry-login');
    assert.match(env.statusReason ?? '', /^Docker daemon unreachable/);
    await fixture.credentials.deleteById(workspace.id, login.id);
    const checked = await fixture.envs.recheck(env);
    assert.equal(checked.status, 'INVALID');
    assert.equal(checked.statusReason, 'the credential registry-login it uses was deleted');
    assert.equal((await fixture.envs.get(env.id))?.statusReason, 'the credential registry-login it uses was deleted');
  });

  it('a kubernetes environment is checked against its API server with the credential\'s token', async () => {
    const cluster = await startApiServer();
    try {
      const workspace = await fixture.workspace('k8s-user');
      const token = await fixture.credentials.create(workspace, { name: 'cluster-token', provider: 'github', keys: { password: 'a-service-account-token' } });
      const env = await fixture.envs.create(
        workspace,
        { name: 'cluster', platform: 'kubernetes', config: { server: cluster.url, namespace: 'studios', agentImage: 'cr.berth.dev/agent:0.1.0', insecure: true }, credentialsId: token.id },
        null,
      );
      assert.deepEqual(env.config, { server: cluster.url, namespace: 'studios', agentImage: 'cr.berth.dev/agent:0.1.0', insecure: true });
      assert.equal(env.status, 'AVAILABLE', env.statusReason ?? '');
      assert.ok(cluster.requests.some((r) => r.path.startsWith('/api/v1/namespaces/studios/pods')), JSON.stringify(cluster.requests));
      assert.ok(cluster.requests.every((r) => r.authorization === 'Bearer a-service-account-token'), JSON.stringify(cluster.requests));

      await fixture.credentials.deleteById(workspace.id, token.id);
      const checked = await fixture.envs.recheck(env);
      assert.equal(checked.status, 'INVALID');
      assert.equal(checked.statusReason, 'the credential cluster-token it uses was deleted');
    } finally {
      await cluster.close();
    }
  });

  it('a kubernetes environment whose API server does not answer is INVALID', async () => {
    const cluster = await startApiServer();
    await cluster.close(); // nothing listens on its port any more
    const workspace = await fixture.workspace('k8s-gone');
    const token = await fixture.credentials.create(workspace, { name: 'cluster-token', provider: 'github', keys: { password: 'token' } });
    const env = await fixture.envs.create(workspace, { name: 'cluster', platform: 'kubernetes', config: { server: cluster.url, agentImage: 'a/b:1', insecure: true }, credentialsId: token.id }, null);
    assert.equal(env.status, 'INVALID');
    assert.match(env.statusReason ?? '', new RegExp(`cannot reach the Kubernetes API at ${cluster.url}`));
  });

  it('recheckAll records a fresh check of every environment', async () => {
    const workspace = await fixture.workspace('recheck-user');
    const env = await fixture.envs.create(workspace, { name: 'here', platform: 'local' }, null);
    await fixture.database.db.updateTable('compute_envs').set({ status: 'INVALID', status_reason: 'stale', checked_at: 1 }).where('id', '=', env.id).execute();
    await fixture.envs.recheckAll();
    const after = (await fixture.envs.get(env.id))!;
    assert.equal(after.status, 'AVAILABLE');
    assert.equal(after.statusReason, null);
    assert.ok(after.checkedAt! > 1);
  });
});

describe('deleting', () => {
  const studioOn = async (env: ComputeEnv, userId: string, name: string, status: string) => {
    const now = Date.now();
    await fixture.database.db
      .insertInto('studios')
      .values({ session_id: `s${name}`, workspace_id: env.workspaceId, user_id: userId, name, description: null, definition: '{}', compute_env_id: env.id, status, status_message: null, stop_reason: null, status_at: now, run: null, created_at: now, updated_at: now, last_started_at: null })
      .execute();
  };

  it('refuses while a studio is active on it, and deletes it once none is', async () => {
    const workspace = await fixture.workspace('delete-user');
    const user = (await fixture.identity.findUser('delete-user'))!;
    const env = await fixture.envs.create(workspace, { name: 'busy', platform: 'local' }, user.id);
    await studioOn(env, user.id, 'one', 'running');
    await studioOn(env, user.id, 'two', 'stopped');
    await assert.rejects(
      () => fixture.envs.delete(env),
      (error: Error) => error instanceof ComputeEnvError && error.code === 'CONFLICT' && error.message === 'compute environment busy is in use by studio one: stop it first',
    );
    assert.ok(await fixture.envs.get(env.id));
    await fixture.database.db.updateTable('studios').set({ status: 'stopped' }).where('session_id', '=', 'sone').execute();
    await fixture.envs.delete(env);
    assert.equal(await fixture.envs.get(env.id), undefined);
  });
});

/**
 * The two calls a kubernetes check makes (the server's version, pods of the namespace), answered as an API
 * server answers them, recording who asked: no cluster runs here.
 */
async function startApiServer(): Promise<{ url: string; requests: Array<{ path: string; authorization: string | undefined }>; close(): Promise<void> }> {
  const requests: Array<{ path: string; authorization: string | undefined }> = [];
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    const json = (status: number, body: unknown) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    if (req.url === '/version') return json(200, { major: '1', minor: '30', gitVersion: 'v1.30.2', platform: 'linux/amd64' });
    if (/^\/api\/v1\/namespaces\/[a-z0-9-]+\/pods(\?|$)/.test(req.url ?? '')) return json(200, { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] });
    json(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
