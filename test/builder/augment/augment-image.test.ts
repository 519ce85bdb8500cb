import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { constants as zlib, gzipSync } from 'node:zlib';
import { AugmentError, type AugmentErrorKind } from '../../../src/builder/augment/augment-errors.ts';
import { augmentImage, type AugmentRequest } from '../../../src/builder/augment/augment-image.ts';
import type { User } from '../../../src/identity/identity-store.ts';
import { digestOf, type Digest } from '../../../src/registry/digest.ts';
import { isRegistryError } from '../../../src/registry/errors.ts';
import { parseRepositoryName } from '../../../src/registry/names.ts';
import { removeDir, scratchDir } from '../../support/containers.ts';
import { databaseKinds, type TestDatabase } from '../../support/databases.ts';
import { twoPlatforms, writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';
import { augmentParts, type AugmentParts } from './augment-parts.ts';
import { tarOf } from '../../support/tar-archives.ts';

type Json = Record<string, any>;

describe('augmentImage (in process, over the real registry parts)', () => {
  let database: TestDatabase;
  let parts: AugmentParts;
  let scratch: string;
  let agentDir: string;
  let small: GeneratedLayout;
  let viewer: User;

  const actor = (user: User = parts.admin, scopes: AugmentRequest['actor']['scopes'] = ['*']) => ({ user, scopes });
  const augment = (request: Partial<AugmentRequest>) =>
    augmentImage(parts.deps, { actor: actor(), source: 'boss/base:small', target: 'boss/augmented:1', layers: [{ kind: 'directory', path: agentDir }], ...request });
  const readJson = async (fullName: string, reference: { tag: string } | { digest: Digest }): Promise<Json> => {
    const { registry } = parts.deps;
    const repository = await registry.existing(parseRepositoryName(fullName));
    return JSON.parse((await registry.manifestBytes(await registry.manifest(repository, reference))).toString()) as Json;
  };
  const readConfig = async (fullName: string, digest: Digest): Promise<Json> => {
    const { registry } = parts.deps;
    const chunks: Buffer[] = [];
    for await (const chunk of await registry.openBlob(await registry.existing(parseRepositoryName(fullName)), digest)) chunks.push(chunk as Buffer);
    return JSON.parse(Buffer.concat(chunks).toString()) as Json;
  };

  before(async () => {
    database = await databaseKinds[0]!.open();
    parts = await augmentParts(database);
    scratch = await scratchDir('augment');
    agentDir = join(scratch, 'agent');
    await mkdir(join(agentDir, 'opt/berth'), { recursive: true });
    await writeFile(join(agentDir, 'opt/berth/agent'), 'the session agent\n');
    small = await writeOciLayout({ dir: join(scratch, 'small'), layers: 2, layerBytes: 256 * 1024, platforms: twoPlatforms });
    await parts.pushLayout('boss/base', small, 'small');
    viewer = await parts.identity.createUser({ name: 'viewer' });
    const workspace = await parts.deps.registry.workspaceOf(parseRepositoryName('boss/base'));
    await parts.identity.setRole(workspace.id, viewer.id, 'view');
  });
  after(async () => {
    await parts?.cleanup();
    await database?.cleanup();
    await removeDir(scratch);
  });

  it('appends the layer and env on both platforms, keeps base layers, writes a new index', async () => {
    const result = await augment({ env: ['AGENT=on', 'PATH=/opt/berth:/bin'], entrypoint: ['/opt/berth/agent'] });
    assert.equal(result.target, 'boss/augmented:1');
    assert.deepEqual(result.platforms.map((p) => p.platform), ['linux/amd64', 'linux/arm64']);
    assert.equal(result.uploadedLayers.length, 1);
    assert.deepEqual(result.mountedLayers.sort(), small.images.flatMap((image) => image.layers.map((layer) => layer.digest)).sort());

    const index = await readJson('boss/augmented', { tag: '1' });
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests.map((m: Json) => m.digest), result.platforms.map((p) => p.digest));
    assert.deepEqual(index.manifests.map((m: Json) => m.platform), twoPlatforms);
    for (const [i, generated] of small.images.entries()) {
      const manifest = await readJson('boss/augmented', { digest: result.platforms[i]!.digest });
      const baseLayers = generated.layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size }));
      assert.deepEqual(manifest.layers.slice(0, -1), baseLayers, 'base layer descriptors are unchanged');
      assert.deepEqual(manifest.layers.at(-1), { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: result.uploadedLayers[0], size: manifest.layers.at(-1).size });
      const config = await readConfig('boss/augmented', manifest.config.digest);
      assert.equal(config.architecture, generated.platform.architecture);
      assert.deepEqual(config.config.Env, ['PATH=/opt/berth:/bin', 'AGENT=on']);
      assert.deepEqual(config.config.Entrypoint, ['/opt/berth/agent']);
      assert.equal(config.rootfs.diff_ids.length, generated.layers.length + 1);
      assert.match(config.history.at(-2).created_by, /^berth augment: add layer sha256:/);
      assert.equal(config.created, '2025-06-01T00:00:00.000Z');
    }
  });

  it('reads no byte of any base layer, for a 1 MiB base and for a 500 MiB base alike', async () => {
    const big = await writeOciLayout({ dir: join(scratch, 'big'), layers: 1, layerBytes: 250 * 1024 * 1024, platforms: twoPlatforms, gzipLevel: zlib.Z_NO_COMPRESSION });
    await parts.pushLayout('boss/base', big, 'big');
    await removeDir(big.dir);
    const sizes = [small, big].map((layout) => layout.images.reduce((sum, image) => sum + image.layers.reduce((s, l) => s + l.size, 0), 0));
    assert.ok(sizes[1]! > 500 * 1024 * 1024 && sizes[0]! < 2 * 1024 * 1024, `bases of ${sizes.join(' and ')} bytes`);

    for (const [tag, layout] of [['small', small], ['big', big]] as const) {
      parts.blobs.reset();
      const result = await augment({ source: `boss/base:${tag}`, target: `boss/measured:${tag}`, layers: [{ kind: 'stream', stream: Readable.from([await tarOf({ 'opt/x': 'x' })]) }] });
      const baseLayers = new Set(layout.images.flatMap((image) => image.layers.map((layer) => layer.digest as Digest)));
      const touched = [...parts.blobs.bytesRead.keys()];
      assert.deepEqual(touched.filter((digest) => baseLayers.has(digest)), [], `${tag}: no base layer is read`);
      const metadata = new Set<string>([layout.top.digest, ...layout.images.flatMap((image) => [image.manifest.digest, image.config.digest])]);
      assert.deepEqual(touched.filter((digest) => !metadata.has(digest)), [], `${tag}: only the base's manifests and configs are read`);
      const bytes = [...parts.blobs.bytesRead.values()].reduce((a, b) => a + b, 0);
      assert.ok(bytes < 16 * 1024, `${tag}: ${bytes} bytes read in all`);
      assert.deepEqual(result.mountedLayers.sort(), [...baseLayers].sort());
    }
  });

  it('uses a pushed plain tar as it is (its digest is its diffID) and computes the diffID of a pushed tar+gzip', async () => {
    const target = await parts.deps.registry.forPush(parseRepositoryName('boss/pushed'));
    const plain = await tarOf({ 'etc/plain': 'plain' });
    const gzippedTar = await tarOf({ 'etc/gzipped': 'gzipped' });
    const gzipped = gzipSync(gzippedTar);
    const push = async (bytes: Buffer) => {
      const id = await parts.deps.uploads.start(target);
      await parts.deps.uploads.complete(target, id, digestOf(bytes), Readable.from([bytes]));
      return digestOf(bytes);
    };
    const layers = [{ kind: 'blob', digest: await push(plain) }, { kind: 'blob', digest: await push(gzipped) }] as const;
    const result = await augment({ target: 'boss/pushed:1', layers: [...layers] });
    assert.deepEqual(result.uploadedLayers, [digestOf(plain), digestOf(gzipped)]);
    const manifest = await readJson('boss/pushed', { digest: result.platforms[0]!.digest });
    assert.deepEqual(manifest.layers.slice(-2).map((l: Json) => l.mediaType), ['application/vnd.oci.image.layer.v1.tar', 'application/vnd.oci.image.layer.v1.tar+gzip']);
    const config = await readConfig('boss/pushed', manifest.config.digest);
    assert.deepEqual(config.rootfs.diff_ids.slice(-2), [digestOf(plain), digestOf(gzippedTar)]);

    await assert.rejects(augment({ target: 'boss/pushed:2', layers: [{ kind: 'blob', digest: await push(Buffer.from('#!/bin/sh\n'.repeat(80))) }] }), kind('LayerInvalid'));
    await assert.rejects(augment({ target: 'boss/pushed:2', layers: [{ kind: 'blob', digest: digestOf('never pushed') }] }), kind('LayerNotFound', /push it there first/));
  });

  it('leaves attestation manifests out of the new index and says so', async () => {
    const repository = await parts.deps.registry.forPush(parseRepositoryName('boss/base'));
    const attestation = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: small.images[0]!.config, layers: [] }));
    const { digest } = await parts.deps.registry.putManifest(repository, undefined, attestation, 'application/vnd.oci.image.manifest.v1+json');
    const index = await readJson('boss/base', { tag: 'small' });
    index.manifests.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: attestation.length, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': small.images[0]!.manifest.digest } });
    await parts.deps.registry.putManifest(repository, { tag: 'attested' }, Buffer.from(JSON.stringify(index)), index.mediaType);

    const result = await augment({ source: 'boss/base:attested', target: 'boss/attested:1' });
    assert.deepEqual(result.skipped, [{ digest, reason: 'attestation manifest' }]);
    assert.equal((await readJson('boss/attested', { tag: '1' })).manifests.length, 2);
  });

  it('refuses before writing anything: unknown source, no right on the target, bad env, missing layer path', async () => {
    const before = await parts.snapshot();
    const cases: Array<[Partial<AugmentRequest>, AugmentErrorKind, RegExp]> = [
      [{ source: 'boss/nothing:1' }, 'SourceUnknown', /source image boss\/nothing:1 not found/],
      [{ source: 'boss/base:no-such-tag' }, 'SourceUnknown', /boss\/base:no-such-tag not found: manifest tag no-such-tag/],
      [{ source: 'nobody/base:1' }, 'SourceUnknown', /no workspace "nobody"/],
      [{ actor: actor(viewer) }, 'Denied', /push on boss\/refused is not allowed for viewer/],
      [{ actor: actor(viewer), target: 'viewer/mine:1', source: 'boss/nothing:1' }, 'SourceUnknown', /boss\/nothing:1 not found/],
      [{ actor: actor(parts.admin, ['registry:pull']) }, 'Denied', /push on boss\/refused is not allowed/],
      [{ env: ['GOOD=1', 'BAD'] }, 'InvalidRequest', /"BAD" must look like KEY=VALUE/],
      [{ layers: [{ kind: 'directory', path: join(scratch, 'missing') }] }, 'LayerNotFound', /missing does not exist/],
      [{ target: `boss/refused@${digestOf('x')}` }, 'InvalidRequest', /must name a tag/],
      [{ layers: [] }, 'InvalidRequest', /nothing to add/],
    ];
    for (const [request, expected, message] of cases) await assert.rejects(augment({ target: 'boss/refused:1', ...request }), kind(expected, message));
    assert.deepEqual(await parts.snapshot(), before);
  });

  it('refuses a source whose layers are not stored (a pull-through cache not filled yet) without downloading or writing', async () => {
    const workspace = await parts.deps.registry.workspaceOf(parseRepositoryName('boss/cache/base'));
    // A cache repository accepts a manifest before its blobs, which arrive on first pull.
    const cache = await parts.deps.index.ensure(workspace.id, 'cache/base', { upstreamRuleId: 'an-upstream-rule' });
    const image = small.images[0]!;
    const manifest = await readJson('boss/base', { digest: image.manifest.digest as Digest });
    await parts.pushBlobFromLayout(cache, small, image.config.digest);
    await parts.deps.registry.putManifest(cache, { tag: '1' }, Buffer.from(JSON.stringify(manifest)), image.manifest.mediaType);
    const before = await parts.snapshot();
    await assert.rejects(augment({ source: 'boss/cache/base:1', target: 'boss/from-cache:1' }), kind('SourceIncomplete', /is not stored in Berth: pull boss\/cache\/base:1 once/));
    assert.deepEqual(await parts.snapshot(), before);
  });

  it('an immutable target tag is refused with the registry\'s own error', async () => {
    await augment({ target: 'boss/frozen:1' });
    const frozen = await parts.deps.registry.existing(parseRepositoryName('boss/frozen'));
    await parts.deps.index.update(frozen.id, { imageTagMutability: 'IMMUTABLE' });
    await assert.rejects(augment({ target: 'boss/frozen:1', env: ['CHANGED=1'] }), (error: unknown) => isRegistryError(error, 'TagImmutable') && /cannot be overwritten/.test(error.message));
  });
});

function kind(expected: AugmentErrorKind, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof AugmentError, `expected an AugmentError, got ${String(error)}`);
    assert.equal(error.kind, expected, error.message);
    if (message) assert.match(error.message, message);
    return true;
  };
}
