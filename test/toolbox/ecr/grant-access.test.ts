import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { grantAccess, grantAccessInput } from '../../../src/toolbox/ecr/grant-access.ts';
import { grantHealthOmicsAccess, grantHealthOmicsInput } from '../../../src/toolbox/ecr/grant-healthomics.ts';
import { ToolboxError } from '../../../src/toolbox/toolbox-operation.ts';
import { aws, type AwsKey } from '../../support/aws.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../../support/containers.ts';
import { ociReference, writeOciLayout } from '../../support/oci-image.ts';
import { createKey, keyContext, registryIdOf, tokenContext, type TestContext } from './ecr-test-context.ts';

describe('grantAccess and grantHealthOmicsAccess against a real Berth', () => {
  let berth: TestBerth;
  let scratch: string;
  let key: AwsKey;
  let context: TestContext;
  const tokens: Record<string, string> = {};
  const ids: Record<string, string> = {};
  let pulls = 0;

  const grant = (input: Record<string, unknown>, ctx: TestContext = context) => grantAccess(grantAccessInput.parse(input), ctx);
  const policyText = async (repository: string) => (await aws<{ policyText: string }>(berth.url, key, ['get-repository-policy', '--repository-name', repository])).policyText;
  const pullAs = (user: string, repository: string) =>
    skopeo(['copy', '--src-tls-verify=false', '--src-creds', creds(user, tokens[user]!), `docker://${berth.host}/admin/${repository}:1`, `dir:${join(scratch, `pull-${++pulls}`)}`], { allowFailure: true });

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('ecr-grant');
    for (const user of ['alice', 'bob', 'carol']) {
      tokens[user] = await berth.user(user);
      ids[user] = await registryIdOf(berth, user, tokens[user]);
    }
    const layout = await writeOciLayout({ dir: join(scratch, 'image'), layers: 1, layerBytes: 1024 });
    for (const repository of ['tools/shared', 'tools/omics']) {
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(layout), `docker://${berth.host}/admin/${repository}:1`]);
    }
    key = await createKey(berth, 'admin');
    context = keyContext(berth, key, 'admin', berth.adminToken);
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('grants a workspace pull, replacing an older statement for it and keeping everyone else’s; its members can pull, others cannot', async () => {
    const others = { Sid: 'PartnerAccount', Effect: 'Allow', Principal: { AWS: '111111111111' }, Action: ['ecr:BatchGetImage'] };
    const olderForAlice = { Sid: 'OldAliceGrant', Effect: 'Allow', Principal: { AWS: ids.alice }, Action: ['ecr:BatchGetImage'] };
    await aws(berth.url, key, ['set-repository-policy', '--repository-name', 'tools/shared', '--policy-text', JSON.stringify({ Version: '2012-10-17', Statement: [others, olderForAlice] })]);
    assert.notEqual((await pullAs('alice', 'tools/shared')).code, 0, 'alice cannot pull before the grant');

    const result = await grant({ repositoryName: 'tools/shared', principal: 'alice' });
    assert.deepEqual(result.policyPrincipal, { AWS: `arn:aws:iam::${ids.alice}:root` });
    assert.deepEqual(result.replaced, ['OldAliceGrant']);
    assert.deepEqual(result.actions, ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability']);
    assert.deepEqual(result.policy.Statement.map((s) => s.Sid), ['PartnerAccount', result.sid]);
    assert.equal(await policyText('tools/shared'), result.policyText, 'the aws CLI reads back the policy the grant returned');

    const pulled = await pullAs('alice', 'tools/shared');
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.notEqual((await pullAs('bob', 'tools/shared')).code, 0, 'bob was not granted');

    const again = await grant({ repositoryName: 'tools/shared', principal: 'workspace:alice', actions: 'push' }, tokenContext(berth, berth.adminToken));
    assert.equal(again.sid, result.sid, 'the Sid is stable for the same principal');
    assert.deepEqual(again.replaced, [result.sid]);
    assert.deepEqual(again.policy.Statement.map((s) => s.Sid), ['PartnerAccount', result.sid]);
    assert.ok(again.actions.includes('ecr:PutImage'));
  });

  it('grants one user of another workspace, and a 12-digit account', async () => {
    const user = await grant({ repositoryName: 'tools/shared', principal: 'user:bob/bob' });
    assert.deepEqual(user.policyPrincipal, { AWS: `arn:aws:iam::${ids.bob}:user/bob` });
    const pulled = await pullAs('bob', 'tools/shared');
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.notEqual((await pullAs('carol', 'tools/shared')).code, 0, 'carol was not granted');

    const account = await grant({ repositoryName: 'tools/shared', principal: ids.carol });
    assert.deepEqual(account.policyPrincipal, { AWS: `arn:aws:iam::${ids.carol}:root` });
    assert.equal((await pullAs('carol', 'tools/shared')).code, 0);
    assert.equal(account.policy.Statement.length, 4, 'partner, alice, bob and carol');
  });

  it('refuses bad input clearly and changes nothing', async () => {
    const before = await policyText('tools/shared');
    const refused = async (input: Record<string, unknown>, code: string, message: RegExp) =>
      assert.rejects(grant(input), (error: unknown) => error instanceof ToolboxError && error.code === code && message.test(error.message));
    await refused({ repositoryName: 'tools/missing', principal: 'alice' }, 'NOT_FOUND', /RepositoryNotFoundException/);
    await refused({ repositoryName: 'tools/shared', principal: 'arn:aws:s3:::bucket' }, 'INVALID_INPUT', /is not a principal/);
    await refused({ repositoryName: 'tools/shared', principal: 'user:alice' }, 'INVALID_INPUT', /is not a principal/);
    await refused({ repositoryName: 'tools/shared', principal: 'no-such-workspace' }, 'INVALID_INPUT', /no workspace "no-such-workspace"/);
    await refused({ repositoryName: 'Tools/Bad Name', principal: 'alice' }, 'INVALID_INPUT', /InvalidParameterException/);
    assert.equal(await policyText('tools/shared'), before, 'the policy is unchanged');
  });

  it('a member who may not read another workspace is told to give its registry id', async () => {
    await assert.rejects(
      grantAccess(grantAccessInput.parse({ repositoryName: 'tools/x', principal: 'bob' }), tokenContext(berth, tokens.alice!)),
      (error: unknown) => error instanceof ToolboxError && error.code === 'DENIED' && /registry id/.test(error.message),
    );
  });

  it('grants HealthOmics a repository with the service statement', async () => {
    const result = await grantHealthOmicsAccess(grantHealthOmicsInput.parse({ repositoryName: 'tools/omics' }), context);
    const statement = result.repository!.policy.Statement.at(-1)!;
    assert.deepEqual(
      { Effect: statement.Effect, Principal: statement.Principal, Action: statement.Action },
      { Effect: 'Allow', Principal: { Service: 'omics.amazonaws.com' }, Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'] },
    );
    assert.match(statement.Sid!, /^BerthGrantServiceOmicsAmazonawsCom[0-9a-f]{8}$/);
    const policy = JSON.parse(await policyText('tools/omics')) as { Statement: unknown[] };
    assert.deepEqual(policy.Statement, [statement]);
    await assert.rejects(grantHealthOmicsAccess(grantHealthOmicsInput.parse({}), context), (error: unknown) => error instanceof ToolboxError && error.code === 'INVALID_INPUT');
  });
});
