import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { registryLoginFor } from '../../../src/studios/compute/runner-factory.ts';
import { startDockerd, type Dockerd } from '../../support/dockerd.ts';
import { computeFixture, type ComputeFixture } from './compute-fixture.ts';

/** A docker environment against a real (private) Docker engine: AVAILABLE, until its credential goes. */
describe('compute checks against a running Docker engine', () => {
  let fixture: ComputeFixture;
  let dockerd: Dockerd | undefined;

  before(async () => {
    fixture = await computeFixture();
    dockerd = await startDockerd();
  });
  after(async () => {
    await dockerd?.stop();
    await fixture.close();
  });

  it('is AVAILABLE while the engine answers and INVALID once its credential was deleted', async () => {
    const workspace = await fixture.workspace('docker-owner');
    const login = await fixture.credentials.create(workspace, { name: 'pull-login', provider: 'container-reg', keys: { registry: 'registry.example.org:5000', userName: 'puller', password: 'pull-secret' } });
    const socket = dockerd!.host.replace(/^unix:\/\//, '');
    const env = await fixture.envs.create(workspace, { name: 'engine', platform: 'docker', config: { socket }, credentialsId: login.id }, null);
    assert.equal(env.status, 'AVAILABLE', env.statusReason ?? '');
    assert.deepEqual(await registryLoginFor(env, fixture), { registry: 'registry.example.org:5000', username: 'puller', password: 'pull-secret' });
    const runner = await fixture.runners.runnerOf(env);
    assert.equal(runner.platform, 'docker');
    assert.equal(await fixture.runners.runnerOf(env), runner, 'one runner per environment');

    await fixture.credentials.deleteById(workspace.id, login.id);
    const checked = await fixture.envs.recheck(env);
    assert.equal(checked.status, 'INVALID');
    assert.equal(checked.statusReason, 'the credential pull-login it uses was deleted');
    await assert.rejects(() => fixture.runners.runnerOf(env), /the credential pull-login it uses was deleted/);
  });

  it('becomes INVALID when the engine stops answering', async () => {
    const workspace = await fixture.workspace('docker-watcher');
    const socket = dockerd!.host.replace(/^unix:\/\//, '');
    const env = await fixture.envs.create(workspace, { name: 'engine', platform: 'docker', config: { socket } }, null);
    assert.equal(env.status, 'AVAILABLE', env.statusReason ?? '');
    await dockerd!.stop();
    const checked = await fixture.envs.recheck(env);
    assert.equal(checked.status, 'INVALID');
    assert.ok(checked.statusReason?.startsWith(`Docker daemon unreachable at ${socket}`), checked.statusReason ?? '');
  });
});
