import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, fileDigest, removeDir, scratchDir, skopeo, textDigest } from '../support/containers.ts';
import { ociReference, twoPlatforms, writeOciLayout, type GeneratedImage, type GeneratedLayout } from '../support/oci-image.ts';

/** skopeo (containers/image) copies images into, out of and within Berth without any special flags. */
describe('skopeo with Berth', () => {
  let berth: TestBerth;
  let scratch: string;
  let image: GeneratedLayout;
  let platforms: GeneratedLayout;
  let adminCreds: string;

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('skopeo');
    adminCreds = creds('admin', berth.adminToken);
    image = await writeOciLayout({ dir: join(scratch, 'image'), tag: 'v1', layers: 3, layerBytes: 192 * 1024 });
    platforms = await writeOciLayout({ dir: join(scratch, 'platforms'), tag: 'v1', layers: 2, layerBytes: 64 * 1024, platforms: twoPlatforms });
  });

  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  const ref = (repository: string) => `docker://${berth.host}/${repository}`;
  const push = (layout: GeneratedLayout, repository: string, extra: string[] = []) =>
    skopeo(['copy', ...extra, '--dest-tls-verify=false', '--dest-creds', adminCreds, ociReference(layout), ref(repository)]);
  const inspect = async (repository: string, extra: string[] = []) =>
    JSON.parse((await skopeo(['inspect', ...extra, '--tls-verify=false', '--creds', adminCreds, ref(repository)])).stdout) as SkopeoInspect;
  const inspectRaw = async (repository: string) => (await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', adminCreds, ref(repository)])).stdout;

  it('copies a multi-layer OCI image in, and inspect agrees with the generated digests', async () => {
    await push(image, 'admin/e2e/multi:1');
    const raw = await inspectRaw('admin/e2e/multi:1');
    assert.equal(textDigest(raw), image.top.digest, 'the manifest comes back byte for byte');
    assert.equal(JSON.parse(raw).config.digest, image.images[0]!.config.digest);
    assertInspectShows(await inspect('admin/e2e/multi:1'), image.top.digest, image.images[0]!);
  });

  it('copies the image back out to an OCI layout and a dir: directory unchanged', async () => {
    await push(image, 'admin/e2e/roundtrip:1');
    const layoutOut = join(scratch, 'out-oci');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', adminCreds, ref('admin/e2e/roundtrip:1'), `oci:${layoutOut}:copied`]);
    const index = JSON.parse(await readFile(join(layoutOut, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      [image.top.digest],
    );
    await assertBlobsIntact(image, (hex) => join(layoutOut, 'blobs', 'sha256', hex), { manifests: true });

    const dirOut = join(scratch, 'out-dir');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', adminCreds, ref('admin/e2e/roundtrip:1'), `dir:${dirOut}`]);
    assert.equal(await fileDigest(join(dirOut, 'manifest.json')), image.top.digest);
    await assertBlobsIntact(image, (hex) => join(dirOut, hex), { manifests: false });
  });

  it('copies a two-platform index with --all, and each platform resolves to its own image', async () => {
    await push(platforms, 'admin/e2e/platforms:1', ['--all']);
    const raw = await inspectRaw('admin/e2e/platforms:1');
    assert.equal(textDigest(raw), platforms.top.digest, 'the index comes back byte for byte');
    assert.deepEqual(
      (JSON.parse(raw) as { manifests: Array<{ digest: string }> }).manifests.map((m) => m.digest),
      platforms.images.map((i) => i.manifest.digest),
    );
    for (const platformImage of platforms.images) {
      const { os, architecture } = platformImage.platform;
      const shown = await inspect('admin/e2e/platforms:1', ['--override-os', os, '--override-arch', architecture]);
      assert.equal(shown.Architecture, platformImage.platform.architecture);
      assertInspectShows(shown, platforms.top.digest, platformImage);
      assert.equal(textDigest(await inspectRaw(`admin/e2e/platforms@${platformImage.manifest.digest}`)), platformImage.manifest.digest);
    }

    const layoutOut = join(scratch, 'out-platforms');
    await skopeo(['copy', '--all', '--src-tls-verify=false', '--src-creds', adminCreds, ref('admin/e2e/platforms:1'), `oci:${layoutOut}:copied`]);
    const index = JSON.parse(await readFile(join(layoutOut, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      [platforms.top.digest],
    );
    await assertBlobsIntact(platforms, (hex) => join(layoutOut, 'blobs', 'sha256', hex), { manifests: true });
  });

  it('lists the tags of a repository', async () => {
    for (const tag of ['2.0', '1.0', 'latest']) await push(image, `admin/e2e/tags:${tag}`);
    const listed = JSON.parse((await skopeo(['list-tags', '--tls-verify=false', '--creds', adminCreds, ref('admin/e2e/tags')])).stdout) as { Tags: string[] };
    assert.deepEqual(listed.Tags, ['1.0', '2.0', 'latest']);
  });

  it('copies between two Berth repositories by mounting the layers instead of uploading them', async () => {
    await push(image, 'admin/e2e/mount-source:1');
    const copy = await skopeo([
      '--debug',
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      '--src-creds',
      adminCreds,
      '--dest-creds',
      adminCreds,
      ref('admin/e2e/mount-source:1'),
      ref('admin/e2e/mount-target:1'),
    ]);
    const log = copy.stderr;
    for (const layer of image.images[0]!.layers) {
      const hex = layer.digest.slice('sha256:'.length);
      assert.match(log, new RegExp(`Trying to mount \\S*/v2/admin/e2e/mount-target/blobs/uploads/\\?from=admin%2Fe2e%2Fmount-source&mount=sha256%3A${hex}`));
      assert.doesNotMatch(log, new RegExp(`PUT \\S+/blobs/uploads/\\S+digest=sha256%3A${hex}`), `layer ${hex} was uploaded, not mounted`);
    }
    assert.equal(log.match(/\.\.\. mount OK/g)?.length, image.images[0]!.layers.length);
    assert.equal(textDigest(await inspectRaw('admin/e2e/mount-target:1')), image.top.digest);
    assertInspectShows(await inspect('admin/e2e/mount-target:1'), image.top.digest, image.images[0]!);
  });

  it('uploads, rather than reuses, layers that sit only in a repository the pusher may not read', async () => {
    await push(image, 'admin/e2e/private-source:1');
    const outsiderCreds = creds('outsider', await berth.user('outsider'));
    const copy = await skopeo(['--debug', 'copy', '--dest-tls-verify=false', '--dest-creds', outsiderCreds, ociReference(image), ref('outsider/copy:1')]);
    const log = copy.stderr;
    // skopeo remembers where it saw these layers and asks for access there first: Berth must not grant it.
    assert.match(log, /Trying to reuse cached location \S+ compressed with gzip in \S+\/admin\/e2e\/private-source/);
    assert.doesNotMatch(log, /\.\.\. mount OK/, 'a blob of a repository the user cannot read was mounted');
    for (const layer of image.images[0]!.layers) {
      assert.match(log, new RegExp(`PUT \\S+/v2/outsider/copy/blobs/uploads/\\S+digest=sha256%3A${layer.digest.slice('sha256:'.length)}`));
    }
    const shown = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--creds', outsiderCreds, ref('outsider/copy:1')])).stdout) as SkopeoInspect;
    assertInspectShows(shown, image.top.digest, image.images[0]!);
  });

  it('logs in once with skopeo login, then copies and inspects without --creds', async () => {
    const authfile = join(scratch, 'login-auth.json');
    const login = await skopeo(['login', '--authfile', authfile, '--tls-verify=false', '-u', 'admin', '--password-stdin', berth.host], {
      input: `${berth.adminToken}\n`,
    });
    assert.match(login.stdout, /Login Succeeded/);
    await skopeo(['copy', '--authfile', authfile, '--dest-tls-verify=false', ociReference(image), ref('admin/e2e/login:1')]);
    const shown = JSON.parse((await skopeo(['inspect', '--authfile', authfile, '--tls-verify=false', ref('admin/e2e/login:1')])).stdout) as SkopeoInspect;
    assertInspectShows(shown, image.top.digest, image.images[0]!);

    const anonymous = await skopeo(['inspect', '--authfile', join(scratch, 'no-such-auth.json'), '--tls-verify=false', ref('admin/e2e/login:1')], {
      allowFailure: true,
    });
    assert.notEqual(anonymous.code, 0, 'a private repository must not be readable without credentials');
    assert.match(anonymous.stderr, /unauthorized|denied/i);
  });

  it('rejects skopeo login with a wrong token', async () => {
    const authfile = join(scratch, 'wrong-auth.json');
    const failed = await skopeo(['login', '--authfile', authfile, '--tls-verify=false', '-u', 'admin', '-p', 'berth_not-a-real-token', berth.host], {
      allowFailure: true,
    });
    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /invalid username\/password|unauthorized/i);
  });

  it('deletes an image with skopeo delete', async () => {
    await push(image, 'admin/e2e/delete-me:1');
    await skopeo(['delete', '--tls-verify=false', '--creds', adminCreds, ref('admin/e2e/delete-me:1')]);
    for (const reference of ['admin/e2e/delete-me:1', `admin/e2e/delete-me@${image.top.digest}`]) {
      const gone = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', adminCreds, ref(reference)], { allowFailure: true });
      assert.notEqual(gone.code, 0, `${reference} still resolves after delete`);
      assert.match(gone.stderr, /manifest unknown/i);
    }
  });
});

interface SkopeoInspect {
  Digest: string;
  Architecture: string;
  Os: string;
  Layers: string[];
}

function assertInspectShows(shown: SkopeoInspect, topDigest: string, image: GeneratedImage): void {
  assert.equal(shown.Digest, topDigest);
  assert.equal(shown.Os, image.platform.os);
  assert.deepEqual(
    shown.Layers,
    image.layers.map((layer) => layer.digest),
  );
}

/**
 * Every blob of the layout is present at `pathOf(hex)` with unchanged content: configs and layers,
 * and with `manifests` also the image manifests and index (a dir: copy keeps its one manifest
 * apart, as manifest.json).
 */
async function assertBlobsIntact(layout: GeneratedLayout, pathOf: (hex: string) => string, options: { manifests: boolean }): Promise<void> {
  const blobs = layout.images.flatMap((image) => [image.config, ...image.layers, ...(options.manifests ? [image.manifest] : [])]);
  if (options.manifests) blobs.push(layout.top);
  for (const blob of blobs) {
    assert.equal(await fileDigest(pathOf(blob.digest.slice('sha256:'.length))), blob.digest);
  }
}
