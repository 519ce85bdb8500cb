// The doctor's pull-access check against the registry's own judgement, and its fixes run as printed.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { ociReference, writeOciLayout } from '../support/oci-image.ts';
import { run } from '../support/processes.ts';

const cli = fileURLToPath(new URL('../../bin/berth.js', import.meta.url));

describe('doctor pull-access judges a policy with a Resource as the registry does', () => {
  let berth: TestBerth;
  let scratch: string;
  let alice: string;
  before(async () => {
    berth = await startBerth({ config: { studios: { allowedWorkspaces: null } as never } });
    scratch = await scratchDir('review7-res');
    const image = await writeOciLayout({ dir: join(scratch, 'img'), layers: 1, layerBytes: 256, platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(image), `docker://${berth.host}/admin/studios:1`]);
    alice = await berth.user('alice');
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('a statement naming the repository ARN lets alice pull, and the doctor agrees', async () => {
    const me = await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/me', undefined, alice);
    const aliceId = me.body.workspaces.find((w) => w.slug === 'alice')!.registryId;
    const adminMe = await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/me');
    const adminId = adminMe.body.workspaces.find((w) => w.slug === 'admin')!.registryId;
    const policy = { Version: '2012-10-17', Statement: [{ Sid: 'AlicePull', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${aliceId}:root` }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'], Resource: `arn:aws:ecr:*:${adminId}:repository/studios` }] };
    const env = { ...process.env, BERTH_URL: berth.url, BERTH_TOKEN: berth.adminToken };
    const set = await run(process.execPath, [cli, 'registry', 'policy', 'set', 'studios', '--workspace', 'admin', '--text', JSON.stringify(policy)], { env, allowFailure: true });
    assert.equal(set.code, 0, set.stderr);
    // the registry lets alice pull
    await skopeo(['inspect', '--tls-verify=false', '--creds', creds('alice', alice), `docker://${berth.host}/admin/studios:1`]);
    const settings = await berth.api('PUT', '/api/workspaces/alice/settings/studios', { settings: { containerRepository: 'admin/studios' } });
    assert.ok(settings.status < 300, JSON.stringify(settings.body));
    const report = await berth.api<{ checks: Array<{ id: string; status: string; message: string }> }>('POST', '/api/toolbox/doctor', { workspace: 'alice' });
    const pull = report.body.checks.find((check) => check.id === 'pull-access');
    assert.equal(pull?.status, 'pass', JSON.stringify(pull));
  });
});

describe('the doctor\'s fixes work when run', () => {
  let berth: TestBerth;
  before(async () => {
    berth = await startBerth({ config: { studios: { allowedWorkspaces: null } as never } });
    await berth.user('alice');
    await berth.role('alice', 'alice', 'admin').catch(() => undefined);
  });
  after(async () => {
    await berth?.close();
  });

  it('the "berth grant" fix for a cross-workspace container repository that does not exist yet succeeds', async () => {
    const set = await berth.api('PUT', '/api/workspaces/alice/settings/studios', { settings: { containerRepository: 'admin/studios' } });
    assert.ok(set.status < 300, JSON.stringify(set.body));
    const report = await berth.api<{ checks: Array<{ id: string; status: string; fix?: string }> }>('POST', '/api/toolbox/doctor', { workspace: 'alice' });
    assert.equal(report.status, 200, JSON.stringify(report.body));
    const pull = report.body.checks.find((check) => check.id === 'pull-access');
    assert.ok(pull?.fix, JSON.stringify(report.body.checks));
    const line = pull.fix.split('\n').find((l) => l.startsWith('with Berth: '))!;
    for (const command of line.slice('with Berth: '.length).split(' && ')) {
      const args = command.slice('berth '.length).split(' ');
      const result = await run(process.execPath, [cli, ...args], { env: { ...process.env, BERTH_URL: berth.url, BERTH_TOKEN: berth.adminToken }, allowFailure: true });
      assert.equal(result.code, 0, `fix "${command}" failed:\n${result.stdout}\n${result.stderr}`);
    }
    const again = await berth.api<{ checks: Array<{ id: string; status: string }> }>('POST', '/api/toolbox/doctor', { workspace: 'alice' });
    assert.equal(again.body.checks.find((check) => check.id === 'pull-access')?.status, 'pass');
  });
});
