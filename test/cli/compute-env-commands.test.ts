import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { runBerthCli } from '../support/berth-cli.ts';

describe('berth compute-envs list|add|delete|check', () => {
  let berth: TestBerth;
  const berthCli = (args: string[]) => runBerthCli(berth, args);

  before(async () => {
    berth = await startBerth();
  });
  after(() => berth?.close());

  it('adds a local and a docker environment, lists, checks and deletes them', async () => {
    const local = await berthCli(['compute-envs', 'add', '--platform', 'local', '--name', 'here']);
    assert.equal(local.code, 0, local.stderr);
    assert.match(local.stdout, /^created compute environment here \(ce_[0-9a-f]+\): AVAILABLE$/m);

    const socket = join(berth.dataDir, 'absent.sock');
    const docker = await berthCli(['compute-envs', 'add', '--platform', 'docker', '--name', 'engine', '--socket', socket, '--workspace', 'admin', '--json']);
    assert.equal(docker.code, 0, docker.stderr);
    const view = JSON.parse(docker.stdout) as { name: string; status: string; message: string; config: Record<string, unknown> };
    assert.equal(view.status, 'INVALID');
    assert.match(view.message, /^Docker daemon unreachable at /);
    assert.deepEqual(view.config, { socket, network: 'host' });

    const table = await berthCli(['compute-envs', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+ID\s+PLATFORM\s+STATUS\s+MESSAGE/);
    assert.match(table.stdout, /^here\s+ce_\S+\s+local\s+AVAILABLE\s*$/m);
    assert.match(table.stdout, /^engine\s+ce_\S+\s+docker\s+INVALID\s+Docker daemon unreachable/m);

    const good = await berthCli(['compute-envs', 'check', 'here']);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout.trim(), 'here: AVAILABLE');
    const bad = await berthCli(['compute-envs', 'check', 'engine']);
    assert.equal(bad.code, 1, 'an INVALID environment fails the check');
    assert.match(bad.stdout, /^engine: INVALID: Docker daemon unreachable/);

    assert.equal((await berthCli(['compute-envs', 'delete', 'engine'])).code, 0);
    const listed = JSON.parse((await berthCli(['compute-envs', 'list', '--json'])).stdout) as Array<{ name: string }>;
    assert.deepEqual(listed.map((env) => env.name), ['here']);
  });

  it('reports what the server refuses, and unknown names', async () => {
    const refused = await berthCli(['compute-envs', 'add', '--platform', 'local', '--name', 'sock', '--socket', '/var/run/docker.sock']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /computeEnv\.config\.socket: unknown field/);
    const kubernetes = await berthCli(['compute-envs', 'add', '--platform', 'kubernetes', '--name', 'k8s', '--server', 'https://127.0.0.1:6443', '--agent-image', 'a/b:1']);
    assert.equal(kubernetes.code, 2);
    assert.match(kubernetes.stderr, /needs a credential/);
    const noCredential = await berthCli(['compute-envs', 'add', '--platform', 'docker', '--name', 'd', '--credential', 'nope']);
    assert.equal(noCredential.code, 2);
    assert.match(noCredential.stderr, /no credential "nope"/);
    const missing = await berthCli(['compute-envs', 'delete', 'nowhere']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no compute environment "nowhere"/);
  });
});
