import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Sha256 } from '@aws-crypto/sha256-js';
import { CreateRepositoryCommand, DescribeRepositoriesCommand } from '@aws-sdk/client-ecr';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { aws, ecrSdk, runAws, type AwsKey } from '../../support/aws.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../../support/containers.ts';
import { ociReference, writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';

interface Repo {
  repositoryArn: string;
  registryId: string;
  repositoryName: string;
  repositoryUri: string;
  imageTagMutability: string;
  imageScanningConfiguration: { scanOnPush: boolean };
  encryptionConfiguration: { encryptionType: string };
}

const keepTwo = JSON.stringify({
  rules: [
    {
      rulePriority: 1,
      description: 'keep the two newest release images',
      selection: { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 2 },
      action: { type: 'expire' },
    },
  ],
});

describe('ECR-compatible API with the aws CLI', () => {
  let berth: TestBerth;
  let key: AwsKey;
  let scratch: string;
  const layouts: GeneratedLayout[] = [];

  const ecr = <T = Record<string, unknown>>(...args: string[]) => aws<T>(berth.url, key, args);
  const failure = async (args: string[], keyToUse: AwsKey = key) => {
    const result = await runAws(berth.url, keyToUse, args);
    assert.notEqual(result.code, 0, `expected aws ${args.join(' ')} to fail`);
    return result.stderr;
  };
  const push = (layout: GeneratedLayout, target: string) =>
    skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(layout), `docker://${berth.host}/admin/${target}`]);

  before(async () => {
    berth = await startBerth();
    const created = await berth.api<AwsKey>('POST', '/api/access-keys', {});
    assert.equal(created.status, 201);
    key = created.body;
    scratch = await scratchDir('ecr');
    for (let i = 0; i < 4; i++) layouts.push(await writeOciLayout({ dir: join(scratch, `image-${i}`), layers: 1, layerBytes: 2048 }));
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('creates a repository with scan-on-push and encryption settings, and describes it', async () => {
    const created = await ecr<{ repository: Repo }>(
      'create-repository',
      '--repository-name', 'tools/x',
      '--image-scanning-configuration', 'scanOnPush=true',
      '--encryption-configuration', 'encryptionType=AES256',
    );
    const workspaces = await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/workspaces');
    const registryId = workspaces.body.workspaces.find((w) => w.slug === 'admin')!.registryId;
    assert.deepEqual(created.repository, {
      ...created.repository,
      registryId,
      repositoryName: 'tools/x',
      repositoryArn: `arn:aws:ecr:eu-west-2:${registryId}:repository/tools/x`,
      repositoryUri: `${berth.host}/admin/tools/x`,
      imageTagMutability: 'MUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: { encryptionType: 'AES256' },
    });
    const uri = await runAws(berth.url, key, ['describe-repositories', '--query', 'repositories[0].repositoryUri', '--output', 'text']);
    assert.equal(uri.stdout.trim().split('\n').pop(), `${berth.host}/admin/tools/x`);
  });

  it('refuses a duplicate repository and an invalid name, naming the problem', async () => {
    assert.match(await failure(['create-repository', '--repository-name', 'tools/x']), /RepositoryAlreadyExistsException.*tools\/x/);
    assert.match(await failure(['create-repository', '--repository-name', 'Bad_Name']), /InvalidParameterException.*repositoryName/);
    assert.match(await failure(['describe-repositories', '--repository-names', 'nope']), /RepositoryNotFoundException.*nope/);
  });

  it('rejects a wrong secret and an unknown key like AWS', async () => {
    assert.match(await failure(['describe-repositories'], { ...key, secretAccessKey: `${key.secretAccessKey}x` }), /InvalidSignatureException/);
    assert.match(await failure(['describe-repositories'], { accessKeyId: 'BKIAUNKNOWNUNKNOWN00', secretAccessKey: 'x' }), /UnrecognizedClientException/);
  });

  it('GetAuthorizationToken logs skopeo in as AWS; pushed images are listed and described', async () => {
    const password = (await runAws(berth.url, key, ['get-login-password'])).stdout.trim();
    const authfile = join(scratch, 'auth.json');
    await skopeo(['login', '--authfile', authfile, '--tls-verify=false', '-u', 'AWS', '--password-stdin', berth.host], { input: password });
    await skopeo(['copy', '--authfile', authfile, '--dest-tls-verify=false', ociReference(layouts[0]!), `docker://${berth.host}/admin/tools/x:v1`]);
    const described = await ecr<{ imageDetails: Array<Record<string, unknown>> }>('describe-images', '--repository-name', 'tools/x');
    assert.equal(described.imageDetails.length, 1);
    const image = described.imageDetails[0]!;
    assert.equal(image.imageDigest, layouts[0]!.top.digest);
    assert.deepEqual(image.imageTags, ['v1']);
    assert.equal(image.imageManifestMediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.ok((image.imageSizeInBytes as number) > 2048);
    assert.equal((image.imageScanStatus as { status: string }).status, 'UNSUPPORTED_IMAGE', 'scan-on-push records the scan without inventing findings');
    const listed = await ecr<{ imageIds: unknown[] }>('list-images', '--repository-name', 'tools/x');
    assert.deepEqual(listed.imageIds, [{ imageDigest: layouts[0]!.top.digest, imageTag: 'v1' }]);
    assert.match(await failure(['start-image-scan', '--repository-name', 'tools/x', '--image-id', 'imageTag=v1']), /UnsupportedImageTypeException.*no vulnerability scanner/);
  });

  it('BatchGetImage returns the exact manifest and PutImage tags it again', async () => {
    const got = await ecr<{ images: Array<{ imageManifest: string; imageManifestMediaType: string }> }>('batch-get-image', '--repository-name', 'tools/x', '--image-ids', 'imageTag=v1');
    const manifest = got.images[0]!.imageManifest;
    const put = await ecr<{ image: { imageId: { imageDigest: string } } }>('put-image', '--repository-name', 'tools/x', '--image-tag', 'stable', '--image-manifest', manifest);
    assert.equal(put.image.imageId.imageDigest, layouts[0]!.top.digest);
    assert.match(await failure(['put-image', '--repository-name', 'tools/x', '--image-tag', 'stable', '--image-manifest', manifest]), /ImageAlreadyExistsException/);
    const pulled = await ecr<{ imageDetails: Array<{ lastRecordedPullTime?: string }> }>('describe-images', '--repository-name', 'tools/x');
    assert.ok(pulled.imageDetails[0]!.lastRecordedPullTime, 'a pull is recorded');
    const missing = await ecr<{ failures: Array<{ failureCode: string }> }>('batch-get-image', '--repository-name', 'tools/x', '--image-ids', 'imageTag=nope');
    assert.equal(missing.failures[0]!.failureCode, 'ImageNotFound');
  });

  it('an immutable repository refuses to move a tag, through ECR and through the registry', async () => {
    await ecr('create-repository', '--repository-name', 'frozen', '--image-tag-mutability', 'IMMUTABLE');
    await push(layouts[0]!, 'frozen:1.0');
    const moved = await push(layouts[1]!, 'frozen:1.0').catch((error: Error) => error);
    assert.ok(moved instanceof Error && /immutable/.test(moved.message), `expected an immutability error, got ${String(moved)}`);
    const manifest = (await ecr<{ images: Array<{ imageManifest: string }> }>('batch-get-image', '--repository-name', 'frozen', '--image-ids', 'imageTag=1.0')).images[0]!.imageManifest;
    assert.ok(manifest.includes(layouts[0]!.images[0]!.config.digest), 'the tag still names the first image');
    await ecr('put-image-tag-mutability', '--repository-name', 'frozen', '--image-tag-mutability', 'MUTABLE');
    await push(layouts[1]!, 'frozen:1.0');
  });

  it('lifecycle: a policy is validated, previewed without deleting, then applied', async () => {
    for (const [i, tag] of ['v1', 'v2', 'v3'].entries()) await push(layouts[i + 1]!, `lc:${tag}`);
    assert.match(await failure(['put-lifecycle-policy', '--repository-name', 'lc', '--lifecycle-policy-text', '{"rules":[{"rulePriority":1,"selection":{"tagStatus":"tagged","countType":"imageCountMoreThan","countNumber":1},"action":{"type":"expire"}}]}']), /InvalidParameterException.*tagPrefixList/);
    await ecr('put-lifecycle-policy', '--repository-name', 'lc', '--lifecycle-policy-text', keepTwo);
    assert.equal((await ecr<{ lifecyclePolicyText: string }>('get-lifecycle-policy', '--repository-name', 'lc')).lifecyclePolicyText, keepTwo);
    const started = await ecr<{ status: string }>('start-lifecycle-policy-preview', '--repository-name', 'lc');
    assert.equal(started.status, 'COMPLETE');
    const preview = await ecr<{ previewResults: Array<{ imageTags: string[]; appliedRulePriority: number }>; summary: { expiringImageTotalCount: number } }>(
      'get-lifecycle-policy-preview',
      '--repository-name',
      'lc',
    );
    assert.deepEqual(preview.previewResults.map((r) => r.imageTags), [['v1']]);
    assert.equal(preview.summary.expiringImageTotalCount, 1);
    assert.equal((await ecr<{ imageIds: unknown[] }>('list-images', '--repository-name', 'lc')).imageIds.length, 3, 'a preview deletes nothing');
    const run = await berth.api<{ expired: Array<{ tags: string[] }> }>('POST', '/api/registry/lifecycle/run', { repository: 'admin/lc' });
    assert.deepEqual(run.body.expired.map((e) => e.tags), [['v1']]);
    const left = await ecr<{ imageIds: Array<{ imageTag: string }> }>('list-images', '--repository-name', 'lc');
    assert.deepEqual(left.imageIds.map((id) => id.imageTag).sort(), ['v2', 'v3']);
    await ecr('delete-lifecycle-policy', '--repository-name', 'lc');
    assert.match(await failure(['get-lifecycle-policy', '--repository-name', 'lc']), /LifecyclePolicyNotFoundException/);
  });

  it('deleting images by tag and repositories with and without force', async () => {
    const deleted = await ecr<{ imageIds: unknown[]; failures: unknown[] }>('batch-delete-image', '--repository-name', 'lc', '--image-ids', 'imageTag=v2', 'imageTag=nope');
    assert.equal(deleted.imageIds.length, 1);
    assert.equal(deleted.failures.length, 1);
    assert.match(await failure(['delete-repository', '--repository-name', 'lc']), /RepositoryNotEmptyException/);
    await ecr('delete-repository', '--repository-name', 'lc', '--force');
    assert.match(await failure(['describe-images', '--repository-name', 'lc']), /RepositoryNotFoundException/);
  });

  it('refuses a request signed with a clock more than 5 minutes off', async () => {
    const signer = new SignatureV4({ credentials: key, region: 'eu-west-2', service: 'ecr', sha256: Sha256 });
    const url = new URL(`${berth.url}/ecr/`);
    const request = new HttpRequest({
      method: 'POST',
      hostname: url.hostname,
      port: Number(url.port),
      path: '/ecr/',
      headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AmazonEC2ContainerRegistry_V20150921.DescribeRepositories' },
      body: '{}',
    });
    const signed = await signer.sign(request, { signingDate: new Date(Date.now() - 10 * 60 * 1000) });
    const response = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body: '{}' });
    assert.equal(response.status, 403);
    const body = (await response.json()) as { __type: string; message: string };
    assert.equal(body.__type, 'InvalidSignatureException');
    assert.match(body.message, /Signature expired/);
  });

  it('pages DescribeRepositories and ListImages with maxResults and nextToken', async () => {
    const sdk = ecrSdk(berth.url, key);
    for (const name of ['paged/a', 'paged/b', 'paged/c']) await sdk.send(new CreateRepositoryCommand({ repositoryName: name }));
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await sdk.send(new DescribeRepositoriesCommand({ maxResults: 2, nextToken }));
      assert.ok((page.repositories ?? []).length <= 2);
      names.push(...(page.repositories ?? []).map((r) => r.repositoryName!));
      nextToken = page.nextToken;
    } while (nextToken);
    assert.deepEqual(names.filter((n) => n.startsWith('paged/')), ['paged/a', 'paged/b', 'paged/c']);
    await assert.rejects(sdk.send(new DescribeRepositoriesCommand({ nextToken: 'forged' })), { name: 'InvalidParameterException' });
  });

  it('a key of another user sees only what its workspace role allows', async () => {
    await berth.user('carol');
    const carolToken = (await berth.api<{ secret: string }>('POST', '/api/users/carol/tokens', { name: 'k' })).body.secret;
    const carolKey = (await berth.api<AwsKey>('POST', '/api/access-keys', {}, carolToken)).body;
    assert.match(await failure(['describe-images', '--repository-name', 'tools/x', '--registry-id', (await registryIdOf(berth, 'admin'))], carolKey), /AccessDeniedException/);
    const own = await aws<{ repositories: unknown[] }>(berth.url, carolKey, ['describe-repositories']);
    assert.deepEqual(own.repositories, []);
  });
});

async function registryIdOf(berth: TestBerth, slug: string): Promise<string> {
  const workspaces = await berth.api<{ workspaces: Array<{ slug: string; registryId: string }> }>('GET', '/api/workspaces');
  return workspaces.body.workspaces.find((w) => w.slug === slug)!.registryId;
}
