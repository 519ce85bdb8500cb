import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { aws, runAws, type AwsKey } from '../../support/aws.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../../support/containers.ts';
import { ociReference, writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';

const pullActions = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];

function policy(...statements: Array<Record<string, unknown>>): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}

describe('repository and registry policies, enforced on pulls and pushes', () => {
  let berth: TestBerth;
  let adminKey: AwsKey;
  let bobToken: string;
  let daveToken: string;
  let scratch: string;
  let layout: GeneratedLayout;
  const image = () => `docker://${berth.host}/admin/shared/app:1`;
  const inspectAs = (user: string, token: string) =>
    skopeo(['inspect', '--tls-verify=false', '--creds', creds(user, token), image()], { allowFailure: true });
  const ecr = (...args: string[]) => aws(berth.url, adminKey, args);
  const registryIdOf = async (slug: string, token = berth.adminToken) =>
    (await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/workspaces', undefined, token)).body.workspaces.find((w) => w.slug === slug)!.registryId;

  before(async () => {
    berth = await startBerth();
    adminKey = (await berth.api<AwsKey>('POST', '/api/access-keys', {})).body;
    bobToken = await berth.user('bob');
    daveToken = await berth.user('dave');
    await berth.role('admin', 'dave', 'view');
    scratch = await scratchDir('policy');
    layout = await writeOciLayout({ dir: join(scratch, 'image'), layers: 1, layerBytes: 1024 });
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(layout), image()]);
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it("a user of another workspace cannot pull until the repository's policy grants that workspace", async () => {
    assert.notEqual((await inspectAs('bob', bobToken)).code, 0, 'bob is no member of admin');
    const bobAccount = await registryIdOf('bob', bobToken);
    await ecr('set-repository-policy', '--repository-name', 'shared/app', '--policy-text', policy({ Sid: 'BobPulls', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${bobAccount}:root` }, Action: pullActions }));
    const inspected = await inspectAs('bob', bobToken);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.equal(JSON.parse(inspected.stdout).Digest, layout.top.digest);
    const push = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('bob', bobToken), ociReference(layout), `docker://${berth.host}/admin/shared/app:bob`], { allowFailure: true });
    assert.notEqual(push.code, 0, 'a pull grant is no push grant');
  });

  it('an explicit Deny wins over a workspace role', async () => {
    assert.equal((await inspectAs('dave', daveToken)).code, 0, 'dave may pull as a viewer of admin');
    const adminAccount = await registryIdOf('admin');
    const current = JSON.parse((await ecr('get-repository-policy', '--repository-name', 'shared/app')).policyText as string) as { Statement: unknown[] };
    const denyDave = { Sid: 'NoDave', Effect: 'Deny', Principal: { AWS: `arn:aws:iam::${adminAccount}:user/dave` }, Action: 'ecr:*' };
    await ecr('set-repository-policy', '--repository-name', 'shared/app', '--policy-text', policy(...(current.Statement as Array<Record<string, unknown>>), denyDave));
    assert.notEqual((await inspectAs('dave', daveToken)).code, 0, 'denied by policy');
    assert.equal((await inspectAs('bob', bobToken)).code, 0, 'bob is still allowed');
  });

  it('rejects invalid policy text, naming the problem, and keeps the old policy', async () => {
    const before = (await ecr('get-repository-policy', '--repository-name', 'shared/app')).policyText;
    const bad = await runAws(berth.url, adminKey, ['set-repository-policy', '--repository-name', 'shared/app', '--policy-text', policy({ Effect: 'Allow', Principal: '*', Action: 'ecr:PullEverything' })]);
    assert.match(bad.stderr, /InvalidParameterException.*ecr:PullEverything/);
    const notJson = await runAws(berth.url, adminKey, ['set-repository-policy', '--repository-name', 'shared/app', '--policy-text', '{"Version":']);
    assert.match(notJson.stderr, /InvalidParameterException/);
    assert.equal((await ecr('get-repository-policy', '--repository-name', 'shared/app')).policyText, before);
  });

  it('deleting the policy removes the grant', async () => {
    await ecr('delete-repository-policy', '--repository-name', 'shared/app');
    assert.match((await runAws(berth.url, adminKey, ['get-repository-policy', '--repository-name', 'shared/app'])).stderr, /RepositoryPolicyNotFoundException/);
    assert.notEqual((await inspectAs('bob', bobToken)).code, 0);
    assert.equal((await inspectAs('dave', daveToken)).code, 0, 'the Deny went with it');
  });

  it('a registry policy takes the registry-level actions and is returned as given', async () => {
    const bobAccount = await registryIdOf('bob', bobToken);
    const text = policy({ Sid: 'PullThrough', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${bobAccount}:root` }, Action: ['ecr:CreateRepository', 'ecr:BatchImportUpstreamImage'], Resource: '*' });
    await ecr('put-registry-policy', '--policy-text', text);
    assert.equal((await ecr('get-registry-policy')).policyText, text);
    const bad = await runAws(berth.url, adminKey, ['put-registry-policy', '--policy-text', policy({ Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage', Resource: '*' })]);
    assert.match(bad.stderr, /InvalidParameterException/);
    await ecr('delete-registry-policy');
    assert.match((await runAws(berth.url, adminKey, ['get-registry-policy'])).stderr, /RegistryPolicyNotFoundException/);
  });
});
