import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeletePullThroughCacheRuleCommand, DescribeRepositoryCreationTemplatesCommand } from '@aws-sdk/client-ecr';
import { checkAvailability, checkAvailabilityInput } from '../../../src/toolbox/ecr/check-availability.ts';
import { createPullThroughCache, createPullThroughCacheInput } from '../../../src/toolbox/ecr/create-pull-through-cache.ts';
import { grantHealthOmicsAccess, grantHealthOmicsInput } from '../../../src/toolbox/ecr/grant-healthomics.ts';
import { listPullThroughCacheRules, listPullThroughCacheRulesInput } from '../../../src/toolbox/ecr/list-pull-through-cache-rules.ts';
import { validateEcrConfiguration, validateEcrInput } from '../../../src/toolbox/ecr/validate-ecr.ts';
import { ToolboxError } from '../../../src/toolbox/toolbox-operation.ts';
import { aws, ecrSdk, type AwsKey } from '../../support/aws.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../../support/containers.ts';
import { startDistribution, type Distribution } from '../../support/distribution.ts';
import { ociReference, twoPlatforms, writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';
import { createKey, keyContext, tokenContext, type TestContext } from './ecr-test-context.ts';

describe('pull-through caches, ECR validation and availability checks against Berth and a CNCF distribution upstream', () => {
  let berth: TestBerth;
  let upstream: Distribution;
  let scratch: string;
  let key: AwsKey;
  let context: TestContext;
  let multi: GeneratedLayout;
  let single: GeneratedLayout;
  const blobGets = () => upstream.count({ method: 'GET', path: /\/blobs\/sha256(:|%3A)/ });
  const validate = (ctx: TestContext = context) => validateEcrConfiguration(validateEcrInput.parse({}), ctx);
  const statusOf = (result: Awaited<ReturnType<typeof validate>>) => Object.fromEntries(result.checks.map((check) => [check.id, check.status]));

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('ecr-pull-through');
    upstream = await startDistribution();
    multi = await writeOciLayout({ dir: join(scratch, 'multi'), layers: 2, layerBytes: 2048, platforms: twoPlatforms });
    single = await writeOciLayout({ dir: join(scratch, 'single'), layers: 1, layerBytes: 1024 });
    await skopeo(['copy', '--all', '--dest-tls-verify=false', ociReference(multi), `docker://${upstream.host}/team/multi:1`]);
    await upstream.push(single, 'team/single:1');
    key = await createKey(berth, 'admin');
    context = keyContext(berth, key, 'admin', berth.adminToken);
  });
  after(async () => {
    await berth?.close();
    await upstream?.stop();
    await removeDir(scratch);
  });

  it('creates a rule; creating it again keeps it; another upstream for the prefix is a conflict', async () => {
    const created = await createPullThroughCache(createPullThroughCacheInput.parse({ upstream: upstream.url, ecrRepositoryPrefix: 'up' }), context);
    assert.equal(created.created, true);
    assert.deepEqual([created.rule.ecrRepositoryPrefix, created.rule.upstreamRegistryUrl], ['up', upstream.url]);
    assert.equal(created.serviceAccess, undefined);
    const again = await createPullThroughCache(createPullThroughCacheInput.parse({ upstream: upstream.url, ecrRepositoryPrefix: 'up' }), context);
    assert.equal(again.created, false);
    await assert.rejects(
      createPullThroughCache(createPullThroughCacheInput.parse({ upstream: 'http://127.0.0.1:9', ecrRepositoryPrefix: 'up' }), context),
      (error: unknown) => error instanceof ToolboxError && error.code === 'CONFLICT' && /already caches/.test(error.message),
    );
    await assert.rejects(createPullThroughCache(createPullThroughCacheInput.parse({ upstream: 'http://127.0.0.1:9' }), context), (error: unknown) => error instanceof ToolboxError && error.code === 'INVALID_INPUT');
  });

  it('a preset gets its default prefix and ECR upstream kind (in another workspace, through the API-token client)', async () => {
    await berth.user('presets');
    const created = await createPullThroughCache(createPullThroughCacheInput.parse({ upstream: 'quay', workspace: 'presets' }), tokenContext(berth, berth.adminToken));
    assert.deepEqual([created.rule.ecrRepositoryPrefix, created.rule.upstreamRegistryUrl, created.rule.upstreamRegistry], ['quay', 'quay.io', 'quay']);
  });

  it('validation fails a misconfigured registry item by item, each with its fix', async () => {
    await createPullThroughCache(createPullThroughCacheInput.parse({ upstream: 'http://127.0.0.1:9', ecrRepositoryPrefix: 'dead' }), context);
    const result = await validate();
    assert.equal(result.valid, false);
    assert.equal(result.pullThroughCachesChecked, 2);
    assert.deepEqual(statusOf(result), {
      'pull-through:rules': 'pass',
      'pull-through:dead:upstream': 'fail',
      'pull-through:up:upstream': 'pass',
      'pull-through:dead:registry-policy': 'fail',
      'pull-through:dead:template': 'fail',
      'pull-through:up:registry-policy': 'fail',
      'pull-through:up:template': 'fail',
    });
    for (const check of result.checks.filter((c) => c.status === 'fail')) assert.ok(check.fix, `${check.id} says how to fix it`);
    assert.match(result.checks.find((c) => c.id === 'pull-through:up:template')!.fix!, /berth grant healthomics --pull-through up/);
    const listed = await listPullThroughCacheRules(listPullThroughCacheRulesInput.parse({}), context);
    assert.deepEqual(
      listed.rules.map((r) => [r.ecrRepositoryPrefix, r.usable, r.registryPermissionGranted, r.repositoryTemplateExists]),
      [
        ['dead', false, false, false],
        ['up', false, false, false],
      ],
    );
  });

  it('after the fixes (HealthOmics access for the prefix, the dead rule deleted) validation passes', async () => {
    const granted = await grantHealthOmicsAccess(grantHealthOmicsInput.parse({ pullThroughPrefix: 'up' }), context);
    assert.equal(granted.pullThrough!.repositoryTemplate, 'created');
    await ecrSdk(berth.url, key).send(new DeletePullThroughCacheRuleCommand({ ecrRepositoryPrefix: 'dead' }));
    const result = await validate();
    assert.equal(result.valid, true, JSON.stringify(result.checks, null, 2));
    assert.ok(result.checks.every((check) => check.status === 'pass'));
    const registryPolicy = JSON.parse((await aws<{ policyText: string }>(berth.url, key, ['get-registry-policy'])).policyText) as { Statement: Array<Record<string, unknown>> };
    assert.deepEqual(registryPolicy.Statement.map((s) => [s.Principal, s.Action, s.Resource]), [
      [{ Service: 'omics.amazonaws.com' }, ['ecr:CreateRepository', 'ecr:BatchImportUpstreamImage'], `arn:aws:ecr:*:${granted.pullThrough!.registryId}:repository/up/*`],
    ]);
    const templates = await ecrSdk(berth.url, key).send(new DescribeRepositoryCreationTemplatesCommand({ prefixes: ['up'] }));
    assert.deepEqual(templates.repositoryCreationTemplates?.[0]?.appliedFor, ['PULL_THROUGH_CACHE']);
    const listed = await listPullThroughCacheRules(listPullThroughCacheRulesInput.parse({}), context);
    assert.deepEqual(listed.rules.map((r) => [r.ecrRepositoryPrefix, r.usable, r.repositoryTemplatePrefix]), [['up', true, 'up']]);
  });

  it('creating a cache with healthOmicsAccess sets everything up at once', async () => {
    const created = await createPullThroughCache(createPullThroughCacheInput.parse({ upstream: upstream.url, ecrRepositoryPrefix: 'omics-up', healthOmicsAccess: true }), context);
    assert.equal(created.serviceAccess?.repositoryTemplate, 'created');
    assert.equal(created.serviceAccess?.registryPolicyUpdated, true);
    const result = await validate();
    assert.equal(result.valid, true, JSON.stringify(result.checks, null, 2));
    assert.equal(result.checks.filter((check) => check.id.startsWith('pull-through:omics-up:')).length, 3);
  });

  it('check: a missing image names the rule that would serve it; with pullThrough it is fetched, with its platforms and who can pull', async () => {
    const check = (input: Record<string, unknown>) => checkAvailability(checkAvailabilityInput.parse(input), context);
    const before = await check({ repositoryName: 'up/team/multi', imageTag: '1' });
    assert.equal(before.available, false);
    assert.equal(before.repositoryExists, false);
    assert.deepEqual(before.pullThroughRule, { ecrRepositoryPrefix: 'up', upstreamRegistryUrl: upstream.url, upstreamImage: `${upstream.host}/team/multi:1` });
    assert.match(before.message, /serves it from/);

    const gets = blobGets();
    const fetched = await check({ repositoryName: 'up/team/multi', imageTag: '1', pullThrough: true, workspace: 'admin' });
    assert.equal(fetched.available, true, fetched.message);
    assert.equal(fetched.pulledThrough, true);
    assert.equal(fetched.digest, multi.top.digest);
    assert.equal(fetched.imageUri, `${berth.host}/admin/up/team/multi:1`);
    assert.ok(fetched.sizeInBytes! > 0);
    assert.deepEqual(
      fetched.platforms,
      multi.images.map((image) => ({ os: image.platform.os, architecture: image.platform.architecture, digest: image.manifest.digest, size: image.manifest.size })),
    );
    const blobs = multi.images.reduce((sum, image) => sum + 1 + image.layers.length, 0);
    assert.equal(blobGets() - gets, blobs, 'every config and layer of both platforms was fetched once');
    assert.match(fetched.whoCanPull!.owners, /members of workspace admin with the view role/);
    assert.deepEqual(fetched.whoCanPull!.statements.map((s) => [s.principals, s.pull]), [[['omics.amazonaws.com'], true]], 'the creation template gave the repository its policy');

    const pulled = await skopeo(['copy', '--all', '--src-tls-verify=false', '--src-creds', creds('admin', berth.adminToken), `docker://${berth.host}/admin/up/team/multi:1`, `oci:${join(scratch, 'pulled')}:1`], {
      allowFailure: true,
    });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(blobGets() - gets, blobs, 'a later pull is served from the cache');

    const after = await check({ repositoryName: 'up/team/multi', imageTag: '1' });
    assert.deepEqual([after.available, after.pulledThrough, after.digest], [true, false, multi.top.digest]);
  });

  it('check through the API-token client: a single-platform image gets its platform from the config', async () => {
    const result = await checkAvailability(checkAvailabilityInput.parse({ repositoryName: 'up/team/single', imageTag: '1', pullThrough: true, workspace: 'admin' }), tokenContext(berth, berth.adminToken));
    assert.equal(result.available, true, result.message);
    assert.equal(result.digest, single.top.digest);
    assert.deepEqual(result.platforms, [{ os: 'linux', architecture: 'amd64' }]);
  });

  it('check: no rule, no image; an image the upstream lacks is NOT_FOUND', async () => {
    const none = await checkAvailability(checkAvailabilityInput.parse({ repositoryName: 'tools/none', pullThrough: true }), context);
    assert.deepEqual([none.available, none.pulledThrough, none.pullThroughRule], [false, false, undefined]);
    assert.match(none.message, /no pull-through cache rule covers it/);
    await assert.rejects(
      checkAvailability(checkAvailabilityInput.parse({ repositoryName: 'up/team/absent', imageTag: '9', pullThrough: true }), context),
      (error: unknown) => error instanceof ToolboxError && error.code === 'NOT_FOUND',
    );
  });
});
