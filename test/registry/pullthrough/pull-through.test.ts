import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { upstreamRepository, type CacheRule } from '../../../src/registry/pullthrough/cache-rules.ts';
import {
  CreatePullThroughCacheRuleCommand,
  CreateRepositoryCreationTemplateCommand,
  DescribePullThroughCacheRulesCommand,
  DescribeRepositoryCreationTemplatesCommand,
  ValidatePullThroughCacheRuleCommand,
} from '@aws-sdk/client-ecr';
import { aws, ecrSdk, runAws, type AwsKey } from '../../support/aws.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../../support/containers.ts';
import { startDistribution, type Distribution } from '../../support/distribution.ts';
import { writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';

describe('pull-through cache with CNCF distribution upstreams', () => {
  let berth: TestBerth;
  let key: AwsKey;
  let open: Distribution;
  let locked: Distribution;
  let scratch: string;
  let app: GeneratedLayout;
  let appV2: GeneratedLayout;
  let tool: GeneratedLayout;
  let registryId: string;

  const ecr = (...args: string[]) => aws(berth.url, key, args);
  const pull = (reference: string, dir: string) =>
    skopeo(['copy', '--src-tls-verify=false', '--src-creds', creds('admin', berth.adminToken), `docker://${berth.host}/admin/${reference}`, `dir:${join(scratch, dir)}`], { allowFailure: true });
  const layerBytes = async (dir: string, layout: GeneratedLayout) => readFile(join(scratch, dir, layout.images[0]!.layers[0]!.digest.slice('sha256:'.length)));
  const blobGets = (upstream: Distribution) => upstream.count({ method: 'GET', path: /\/blobs\/sha256(:|%3A)/ });

  before(async () => {
    // Revalidate on every pull, so that tag checks with the upstream happen within the test.
    berth = await startBerth({ config: { registry: { pullThroughRevalidateS: 0 } } });
    key = (await berth.api<AwsKey>('POST', '/api/access-keys', {})).body;
    registryId = (await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/workspaces')).body.workspaces.find((w) => w.slug === 'admin')!.registryId;
    scratch = await scratchDir('pullthrough');
    app = await writeOciLayout({ dir: join(scratch, 'app'), layers: 2, layerBytes: 256 * 1024 });
    appV2 = await writeOciLayout({ dir: join(scratch, 'app2'), layers: 1, layerBytes: 1024 });
    tool = await writeOciLayout({ dir: join(scratch, 'tool'), layers: 1, layerBytes: 4096 });
    open = await startDistribution();
    locked = await startDistribution({ htpasswd: { username: 'mirror', password: 'upstream-secret' } });
    await open.push(app, 'team/app:1');
    await open.push(tool, 'team/tool:1');
    await locked.push(tool, 'private/tool:1');
  });
  after(async () => {
    await berth?.close();
    await open?.stop();
    await locked?.stop();
    await removeDir(scratch);
  });

  it('creates, describes and validates rules with the aws CLI', async () => {
    const created = await ecr('create-pull-through-cache-rule', '--ecr-repository-prefix', 'up', '--upstream-registry-url', open.url);
    assert.equal(created.ecrRepositoryPrefix, 'up');
    assert.equal(created.upstreamRegistryUrl, open.url);
    const credential = await berth.api('POST', '/api/workspaces/admin/credentials', { name: 'ecr-pullthroughcache/locked', username: 'mirror', secret: 'upstream-secret' });
    assert.equal(credential.status, 201);
    assert.ok(!JSON.stringify(credential.body).includes('upstream-secret'), 'the API never returns a secret');
    const arn = `arn:aws:secretsmanager:eu-west-2:${registryId}:secret:ecr-pullthroughcache/locked`;
    await ecrSdk(berth.url, key).send(new CreatePullThroughCacheRuleCommand({ ecrRepositoryPrefix: 'locked', upstreamRegistryUrl: locked.url, credentialArn: arn }));
    const rules = await ecrSdk(berth.url, key).send(new DescribePullThroughCacheRulesCommand({}));
    assert.deepEqual(rules.pullThroughCacheRules?.map((r) => [r.ecrRepositoryPrefix, r.credentialArn]), [['locked', arn], ['up', undefined]]);
    assert.equal((await ecrSdk(berth.url, key).send(new ValidatePullThroughCacheRuleCommand({ ecrRepositoryPrefix: 'up' }))).isValid, true);
    assert.equal((await ecrSdk(berth.url, key).send(new ValidatePullThroughCacheRuleCommand({ ecrRepositoryPrefix: 'locked' }))).isValid, true);
    assert.match((await runAws(berth.url, key, ['create-pull-through-cache-rule', '--ecr-repository-prefix', 'up', '--upstream-registry-url', open.url])).stderr, /PullThroughCacheRuleAlreadyExistsException/);
    await assert.rejects(
      ecrSdk(berth.url, key).send(
        new CreatePullThroughCacheRuleCommand({ ecrRepositoryPrefix: 'nosecret', upstreamRegistryUrl: open.url, credentialArn: `arn:aws:secretsmanager:eu-west-2:${registryId}:secret:ecr-pullthroughcache/none` }),
      ),
      { name: 'SecretNotFoundException' },
    );
  });

  it('a creation template gives cache repositories their settings', async () => {
    const lifecycle = JSON.stringify({ rules: [{ rulePriority: 1, description: 'keep 5', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 5 }, action: { type: 'expire' } }] });
    const sdk = ecrSdk(berth.url, key);
    await sdk.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'up', appliedFor: ['PULL_THROUGH_CACHE'], imageTagMutability: 'IMMUTABLE', lifecyclePolicy: lifecycle }));
    const described = await sdk.send(new DescribeRepositoryCreationTemplatesCommand({}));
    assert.deepEqual(described.repositoryCreationTemplates?.map((t) => [t.prefix, t.imageTagMutability]), [['up', 'IMMUTABLE']]);
    await assert.rejects(
      sdk.send(new CreateRepositoryCreationTemplateCommand({ prefix: 'bad', appliedFor: ['PULL_THROUGH_CACHE'], lifecyclePolicy: '{"rules":[]}' })),
      (error: Error) => error.name === 'InvalidParameterException' && /lifecyclePolicy/.test(error.message),
    );
  });

  it('the first pull streams from the upstream and stores; the repository appears with its template', async () => {
    const result = await pull('up/team/app:1', 'first');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await layerBytes('first', app), await readFile(join(app.dir, 'blobs', 'sha256', app.images[0]!.layers[0]!.digest.slice(7))));
    const repository = ((await ecr('describe-repositories', '--repository-names', 'up/team/app')).repositories as Array<{ imageTagMutability: string }>)[0]!;
    assert.equal(repository.imageTagMutability, 'IMMUTABLE');
    assert.ok((await ecr('get-lifecycle-policy', '--repository-name', 'up/team/app')).lifecyclePolicyText);
  });

  it('later pulls are served locally, even with the upstream stopped', async () => {
    const before = blobGets(open);
    assert.equal((await pull('up/team/app:1', 'second')).code, 0);
    assert.equal(blobGets(open), before, 'no blob was fetched again');
    const unchanged = open.count({ method: 'GET', path: /\/manifests\// });
    assert.equal((await pull('up/team/app:1', 'third')).code, 0);
    assert.equal(open.count({ method: 'GET', path: /\/manifests\// }), unchanged, 'an unchanged tag is re-checked with HEAD only');
  });

  it('a tag that moved upstream is refreshed on its next check', async () => {
    await open.push(appV2, 'team/app:1');
    const result = await pull('up/team/app:1', 'moved');
    assert.equal(result.code, 0, result.stderr);
    const described = (await ecr('describe-images', '--repository-name', 'up/team/app', '--image-ids', 'imageTag=1')).imageDetails as Array<{ imageDigest: string }>;
    assert.equal(described[0]!.imageDigest, appV2.top.digest);
  });

  it('concurrent first pulls of the same image download each blob once', async () => {
    const before = blobGets(open);
    const results = await Promise.all([1, 2, 3, 4, 5].map((i) => pull('up/team/tool:1', `concurrent-${i}`)));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const blobs = 1 + tool.images[0]!.layers.length; // config and layer
    assert.equal(blobGets(open) - before, blobs, `each of the ${blobs} blobs was fetched once`);
    for (let i = 1; i <= 5; i++) assert.deepEqual(await layerBytes(`concurrent-${i}`, tool), await layerBytes('concurrent-1', tool));
  });

  it('pulls through an upstream that needs credentials', async () => {
    const result = await pull('locked/private/tool:1', 'locked');
    assert.equal(result.code, 0, result.stderr);
  });

  it('refuses pushes into a pull-through prefix with a clear error', async () => {
    const push = await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), `oci:${tool.dir}:latest`, `docker://${berth.host}/admin/up/team/mine:1`], { allowFailure: true });
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /pull-through cache/);
  });

  it('serves the cached copy when the upstream is down, and says so when nothing is cached', async () => {
    await open.stop();
    assert.equal((await pull('up/team/app:1', 'offline')).code, 0, 'cached copy served');
    const uncached = await pull('up/team/other:1', 'offline-miss');
    assert.notEqual(uncached.code, 0);
    const validated = await ecrSdk(berth.url, key).send(new ValidatePullThroughCacheRuleCommand({ ecrRepositoryPrefix: 'up' }));
    assert.equal(validated.isValid, false);
    assert.match(validated.failure ?? '', /.+/);
  });

  it('names Docker Hub images without a namespace library/…', () => {
    const rule = { upstreamRegistry: 'docker-hub', upstreamPrefix: null } as unknown as CacheRule;
    assert.equal(upstreamRepository(rule, 'ubuntu'), 'library/ubuntu');
    assert.equal(upstreamRepository(rule, 'bitnami/redis'), 'bitnami/redis');
    assert.equal(upstreamRepository({ ...rule, upstreamRegistry: 'quay' } as CacheRule, 'ubuntu'), 'ubuntu');
  });
});
