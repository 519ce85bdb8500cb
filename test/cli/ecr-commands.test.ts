import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { aws, type AwsKey } from '../support/aws.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { startDistribution, type Distribution } from '../support/distribution.ts';
import { ociReference, twoPlatforms, writeOciLayout } from '../support/oci-image.ts';
import { imageArgument, repositoryArgument } from '../../src/cli/ecr-commands.ts';
import { CliError } from '../../src/cli/client.ts';
import { berthCliJson, runBerthCli } from '../support/berth-cli.ts';

describe('berth check, grant and ecr … (the CLI over the ECR toolbox operations)', () => {
  let berth: TestBerth;
  let upstream: Distribution;
  let scratch: string;
  let key: AwsKey;
  let aliceToken: string;
  const berthCli = (args: string[], env: Record<string, string> = {}) => runBerthCli(berth, args, { env });
  const json = <T>(args: string[]) => berthCliJson<T>(berth, args);

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('ecr-cli');
    upstream = await startDistribution();
    const multi = await writeOciLayout({ dir: join(scratch, 'multi'), layers: 1, layerBytes: 1024, platforms: twoPlatforms });
    await skopeo(['copy', '--all', '--dest-tls-verify=false', ociReference(multi), `docker://${upstream.host}/team/multi:1`]);
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(multi), `docker://${berth.host}/admin/tools/app:1`]);
    aliceToken = await berth.user('alice');
    key = (await berth.api<AwsKey>('POST', '/api/access-keys', { workspace: 'admin' })).body;
  });
  after(async () => {
    await berth?.close();
    await upstream?.stop();
    await removeDir(scratch);
  });

  it('creates a pull-through cache; validate fails with fixes until HealthOmics is granted the prefix', async () => {
    const created = await json<{ created: boolean; rule: { ecrRepositoryPrefix: string } }>(['ecr', 'pull-through', 'create', upstream.url, '--prefix', 'up']);
    assert.deepEqual([created.created, created.rule.ecrRepositoryPrefix], [true, 'up']);
    const failing = await berthCli(['ecr', 'validate']);
    assert.equal(failing.code, 1);
    assert.match(failing.stdout, /✓ up: .* answers/);
    assert.match(failing.stdout, /✗ up: no registry policy lets omics\.amazonaws\.com/);
    assert.match(failing.stdout, /fix: berth grant healthomics --pull-through up/);
    const listed = await berthCli(['ecr', 'pull-through', 'list']);
    assert.match(listed.stdout, /^up\s+http:\/\/127\.0\.0\.1:\d+\s+no: registry policy, creation template$/m);

    const granted = await berthCli(['grant', 'healthomics', '--pull-through', 'up']);
    assert.equal(granted.code, 0, granted.stderr);
    const valid = await json<{ valid: boolean }>(['ecr', 'validate']);
    assert.equal(valid.valid, true);
    assert.match((await berthCli(['ecr', 'pull-through', 'list'])).stdout, /^up\s+\S+\s+yes$/m);
  });

  it('checks an image before and after fetching it through the cache', async () => {
    const missing = await berthCli(['check', 'admin/up/team/multi:1']);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /✗ no repository up\/team\/multi yet/);
    assert.match(missing.stdout, new RegExp(`rule\\s+up ← ${upstream.host}/team/multi:1`));
    const fetched = await berthCli(['check', `${berth.host}/admin/up/team/multi:1`, '--pull-through']);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.match(fetched.stdout, new RegExp(`✓ ${berth.host}/admin/up/team/multi:1`));
    assert.match(fetched.stdout, /platforms\s+linux\/amd64, linux\/arm64/);
    assert.match(fetched.stdout, /pull\s+members of workspace admin/);
    assert.match(fetched.stderr, /fetching .* through the pull-through cache/);
    const again = await json<{ available: boolean; pulledThrough: boolean; platforms: unknown[] }>(['check', 'admin/up/team/multi:1']);
    assert.deepEqual([again.available, again.pulledThrough, again.platforms.length], [true, false, 2]);
  });

  it('grants a workspace pull and prints the policy the aws CLI reads back; alice can then pull', async () => {
    const shown = await berthCli(['grant', 'admin/tools/app', '--principal', 'alice']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^alice may pull admin\/tools\/app \(Sid BerthGrant/);
    const result = await json<{ policyText: string; replaced: string[] }>(['grant', 'tools/app', '--workspace', 'admin', '--principal', 'workspace:alice']);
    assert.equal(result.replaced.length, 1, 'the second grant replaced the first');
    assert.equal((await aws<{ policyText: string }>(berth.url, key, ['get-repository-policy', '--repository-name', 'tools/app'])).policyText, result.policyText);
    const pulled = await skopeo(['inspect', '--tls-verify=false', '--creds', creds('alice', aliceToken), `docker://${berth.host}/admin/tools/app:1`], { allowFailure: true });
    assert.equal(pulled.code, 0, pulled.stderr);
  });

  it('bad input fails clearly with exit code 1 (2 for misused flags)', async () => {
    const principal = await berthCli(['grant', 'admin/tools/app', '--principal', 'not a principal']);
    assert.equal(principal.code, 1);
    assert.match(principal.stderr, /^berth: INVALID_INPUT: "not a principal" is not a principal/);
    const repository = await berthCli(['grant', 'admin/tools/nothing', '--principal', 'alice']);
    assert.equal(repository.code, 1);
    assert.match(repository.stderr, /NOT_FOUND: .*RepositoryNotFoundException/);
    const flags = await berthCli(['ecr', 'validate', '--region', 'eu-west-2']);
    assert.equal(flags.code, 2);
    assert.match(flags.stderr, /--region and --endpoint-url go with --aws/);
  });

  it('--aws talks to any ECR endpoint with the AWS credential chain (here Berth with an access key)', async () => {
    const env = { AWS_ACCESS_KEY_ID: key.accessKeyId, AWS_SECRET_ACCESS_KEY: key.secretAccessKey, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true' };
    const result = await berthCli(['ecr', 'pull-through', 'list', '--aws', '--region', 'eu-west-2', '--endpoint-url', `${berth.url}/ecr`, '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    const listed = JSON.parse(result.stdout) as { rules: Array<{ ecrRepositoryPrefix: string; usable: boolean }> };
    assert.deepEqual(listed.rules.map((r) => [r.ecrRepositoryPrefix, r.usable]), [['up', true]]);
    const checked = await berthCli(['check', 'up/team/multi:1', '--aws', '--region', 'eu-west-2', '--endpoint-url', `${berth.url}/ecr`, '--json'], env);
    assert.equal(checked.code, 0, checked.stderr);
    assert.equal((JSON.parse(checked.stdout) as { available: boolean }).available, true);
  });
});

describe('berth check / grant arguments', () => {
  it('reads Berth images as [HOST/]WORKSPACE/REPO and Amazon ECR images as [ECR HOST/]REPO', () => {
    assert.deepEqual(imageArgument('127.0.0.1:8080/lab/tools/x:1', {}), { repositoryName: 'tools/x', workspace: 'lab', imageTag: '1' });
    assert.deepEqual(imageArgument('lab/tools/x@sha256:abc', {}), { repositoryName: 'tools/x', workspace: 'lab', imageDigest: 'sha256:abc' });
    assert.deepEqual(imageArgument('tools/x', { workspace: 'lab' }), { repositoryName: 'tools/x', workspace: 'lab' });
    assert.deepEqual(imageArgument('123456789012.dkr.ecr.us-east-1.amazonaws.com/tools/x:2', { aws: true }), { repositoryName: 'tools/x', imageTag: '2', region: 'us-east-1' });
    assert.deepEqual(imageArgument('tools/x:2', { aws: true, region: 'eu-west-2' }), { repositoryName: 'tools/x', imageTag: '2', region: 'eu-west-2' });
    assert.throws(() => imageArgument('x:1', {}), CliError);
    assert.deepEqual(repositoryArgument('lab/tools/x', {}), { repositoryName: 'tools/x', workspace: 'lab' });
  });
});
