import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cloneImage } from '../../../src/toolbox/clone/clone-image.ts';
import { ToolboxError, type ProgressEvent } from '../../../src/toolbox/toolbox-operation.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { removeDir, scratchDir, skopeo } from '../../support/containers.ts';
import { startDistribution, type Distribution } from '../../support/distribution.ts';
import { twoPlatforms, writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';
import { cloneContext, pushLayout, rawManifest } from './clone-fixtures.ts';

describe('cloneImage between Berth and a CNCF distribution', () => {
  let berth: TestBerth;
  let open: Distribution;
  let locked: Distribution;
  let dir: string;
  let multi: GeneratedLayout;
  let single: GeneratedLayout;
  const lockedLogin = { username: 'mover', password: 'distribution-secret' };
  let admin: { username: string; password: string };
  let logins: Record<string, { username: string; password: string }>;

  before(async () => {
    dir = await scratchDir('clone');
    [berth, open, locked] = await Promise.all([startBerth(), startDistribution(), startDistribution({ htpasswd: lockedLogin })]);
    admin = { username: 'admin', password: berth.adminToken };
    logins = { [berth.host]: admin, [locked.host]: lockedLogin };
    multi = await writeOciLayout({ dir: join(dir, 'multi'), tag: 'v1', layers: 2, layerBytes: 64 * 1024, platforms: twoPlatforms });
    single = await writeOciLayout({ dir: join(dir, 'single'), tag: 'v1', layers: 3, layerBytes: 32 * 1024 });
    await pushLayout(multi, `${open.host}/lab/multi:v1`);
    await pushLayout(single, `${berth.host}/admin/tools/single:v1`, admin);
  });

  after(async () => {
    await Promise.allSettled([berth?.close(), open?.stop(), locked?.stop()]);
    await removeDir(dir);
  });

  it('copies a multi-platform index from distribution to Berth whole, children first, digests byte for byte', async () => {
    const events: ProgressEvent[] = [];
    const result = await cloneImage({ source: `${open.host}/lab/multi:v1`, target: `${berth.host}/admin/mirror/multi` }, cloneContext(logins, { events }));

    assert.equal(result.images.length, 1);
    const [image] = result.images;
    assert.equal(image!.digest, multi.top.digest);
    assert.equal(image!.target, `${berth.host}/admin/mirror/multi:v1`, 'without a target tag the source tag is kept');
    assert.deepEqual(image!.platforms, ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(image!.manifests, { pushed: 3, skipped: 0 });
    const blobCount = multi.images.reduce((n, i) => n + 1 + i.layers.length, 0);
    assert.equal(result.totals.blobs.copied, blobCount);
    assert.equal(result.totals.bytes.copied, multi.images.reduce((n, i) => n + i.config.size + i.layers.reduce((m, l) => m + l.size, 0), 0));

    assert.equal(await rawManifest(`${berth.host}/admin/mirror/multi:v1`, admin), await rawManifest(`${open.host}/lab/multi:v1`));
    for (const child of multi.images) {
      const digest = child.manifest.digest;
      assert.equal(await rawManifest(`${berth.host}/admin/mirror/multi@${digest}`, admin), await rawManifest(`${open.host}/lab/multi@${digest}`));
    }
    const transfers = events.filter((e) => e.kind === 'transfer');
    assert.equal(new Set(transfers.filter((e) => e.state === 'done').map((e) => e.id)).size, blobCount, 'each blob reports its end');
    assert.ok(transfers.some((e) => e.state === 'waiting'));
  });

  it('skips every blob and manifest the target already has on a second run', async () => {
    const result = await cloneImage({ source: `${open.host}/lab/multi:v1`, target: `${berth.host}/admin/mirror/multi:v1` }, cloneContext(logins));
    assert.equal(result.totals.blobs.copied, 0);
    assert.equal(result.totals.bytes.copied, 0);
    assert.equal(result.totals.blobs.skipped, multi.images.reduce((n, i) => n + 1 + i.layers.length, 0));
    assert.deepEqual(result.totals.manifests, { pushed: 0, skipped: 3 });
  });

  it('copies from Berth to a distribution that requires credentials, and is refused without them', async () => {
    const source = `${berth.host}/admin/tools/single:v1`;
    await assert.rejects(
      cloneImage({ source, target: `${locked.host}/copies/single:v1` }, cloneContext({ [berth.host]: admin })),
      (error: unknown) => error instanceof ToolboxError && error.code === 'UNAUTHORIZED',
    );
    const result = await cloneImage({ source, target: `${locked.host}/copies/single:v1`, concurrency: 2 }, cloneContext(logins));
    assert.equal(result.images[0]!.digest, single.top.digest);
    assert.equal(result.totals.blobs.copied, 4);
    assert.equal(await rawManifest(`${locked.host}/copies/single:v1`, lockedLogin), await rawManifest(source, admin));
  });

  it('copies from a distribution with credentials back to Berth by digest, keeping the digest', async () => {
    await locked.push(single, 'plain/single:v1');
    const source = `${locked.host}/plain/single@${single.top.digest}`;
    const result = await cloneImage({ source, target: `${berth.host}/admin/back/single:pinned` }, cloneContext(logins));
    assert.equal(result.images[0]!.digest, single.top.digest);
    assert.equal(await rawManifest(`${berth.host}/admin/back/single:pinned`, admin), await rawManifest(source, lockedLogin));
  });

  it('with allTags copies every tag of a repository, each shared blob once', async () => {
    await open.push(single, 'lab/tagged:a');
    await open.push(single, 'lab/tagged:b');
    await pushLayout(multi, `${open.host}/lab/tagged:c`);
    const result = await cloneImage({ source: `${open.host}/lab/tagged`, target: `${berth.host}/admin/tagged`, allTags: true }, cloneContext(logins));
    assert.deepEqual(
      result.images.map((i) => [i.target, i.digest]),
      [
        [`${berth.host}/admin/tagged:a`, single.top.digest],
        [`${berth.host}/admin/tagged:b`, single.top.digest],
        [`${berth.host}/admin/tagged:c`, multi.top.digest],
      ],
    );
    const digests = result.blobs.map((b) => b.digest);
    assert.equal(new Set(digests).size, digests.length, 'no blob is handled twice');
    const listed = await skopeo(['list-tags', '--tls-verify=false', '--creds', `admin:${berth.adminToken}`, `docker://${berth.host}/admin/tagged`]);
    assert.deepEqual((JSON.parse(listed.stdout) as { Tags: string[] }).Tags.sort(), ['a', 'b', 'c']);
  });

  it('says what to fix for a missing source and a target without a host', async () => {
    await assert.rejects(
      cloneImage({ source: `${open.host}/lab/nothing:v1`, target: `${berth.host}/admin/x` }, cloneContext(logins)),
      (error: unknown) => error instanceof ToolboxError && error.code === 'NOT_FOUND',
    );
    await assert.rejects(
      cloneImage({ source: `${open.host}/lab/multi:v1`, target: 'admin/x' }, cloneContext(logins)),
      (error: unknown) => error instanceof ToolboxError && error.code === 'INVALID_INPUT' && /docker\.io\/admin\/x/.test(error.message),
    );
  });
});
