import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CreateRepositoryCommand, DescribeRegistryCommand, DescribeRepositoriesCommand } from '@aws-sdk/client-ecr';
import { awsEcrClient, berthEcrClient } from '../../../src/toolbox/ecr/ecr-clients.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { createKey, registryIdOf } from './ecr-test-context.ts';

describe('ECR clients for Berth (API token) and for any ECR endpoint (SigV4)', () => {
  let berth: TestBerth;
  let aliceToken: string;

  before(async () => {
    berth = await startBerth();
    aliceToken = await berth.user('alice');
  });
  after(async () => {
    await berth?.close();
  });

  it('an API-token client acts as its user in the workspace it names (default: the user’s own)', async () => {
    const own = await berthEcrClient({ url: berth.url, token: aliceToken }).send(new DescribeRegistryCommand({}));
    assert.equal(own.registryId, await registryIdOf(berth, 'alice', aliceToken));
    const admin = await berthEcrClient({ url: `${berth.url}/`, token: berth.adminToken, workspace: 'alice' }).send(new DescribeRegistryCommand({}));
    assert.equal(admin.registryId, own.registryId, 'the system admin reads alice’s registry when it names her workspace');
    await berthEcrClient({ url: berth.url, token: aliceToken }).send(new CreateRepositoryCommand({ repositoryName: 'tools/by-token' }));
    const listed = await berthEcrClient({ url: berth.url, token: aliceToken }).send(new DescribeRepositoriesCommand({}));
    assert.deepEqual(listed.repositories?.map((r) => r.repositoryUri), [`${berth.host}/alice/tools/by-token`]);
  });

  it('refusals come back as the ECR exceptions', async () => {
    await assert.rejects(berthEcrClient({ url: berth.url, token: 'berth_not-a-token' }).send(new DescribeRegistryCommand({})), { name: 'UnrecognizedClientException' });
    await assert.rejects(berthEcrClient({ url: berth.url, token: aliceToken, workspace: 'admin' }).send(new DescribeRegistryCommand({})), { name: 'AccessDeniedException' });
    await assert.rejects(berthEcrClient({ url: berth.url, token: aliceToken, workspace: 'nowhere' }).send(new DescribeRegistryCommand({})), { name: 'InvalidParameterException' });
  });

  it('the SigV4 client works against Berth with an access key, and a wrong secret is refused', async () => {
    const key = await createKey(berth, 'alice', aliceToken);
    const client = awsEcrClient({ region: 'eu-west-2', endpoint: `${berth.url}/ecr`, credentials: key });
    assert.equal((await client.send(new DescribeRegistryCommand({}))).registryId, await registryIdOf(berth, 'alice', aliceToken));
    const wrong = awsEcrClient({ region: 'eu-west-2', endpoint: `${berth.url}/ecr`, credentials: { ...key, secretAccessKey: 'wrong' } });
    await assert.rejects(wrong.send(new DescribeRegistryCommand({})), { name: 'InvalidSignatureException' });
  });
});
