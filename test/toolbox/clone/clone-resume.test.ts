import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cloneImage } from '../../../src/toolbox/clone/clone-image.ts';
import { uploadSessionsFile, type UploadSessions } from '../../../src/toolbox/clone/upload-sessions.ts';
import type { ProgressEvent } from '../../../src/toolbox/toolbox-operation.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { removeDir, scratchDir } from '../../support/containers.ts';
import { startCountingProxy, startDistribution, type CountingProxy, type Distribution } from '../../support/distribution.ts';
import { writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';
import { cloneContext, pushLayout, rawManifest } from './clone-fixtures.ts';

describe('cloneImage: interrupted and resumed, and mounts within Berth', () => {
  let berth: TestBerth;
  let proxy: CountingProxy;
  let source: Distribution;
  let dir: string;
  let layout: GeneratedLayout;
  let big: GeneratedLayout;
  let admin: { username: string; password: string };
  const blobPath = /\/blobs\/sha256(:|%3A)/i;

  before(async () => {
    dir = await scratchDir('clone-resume');
    [berth, source] = await Promise.all([startBerth(), startDistribution()]);
    proxy = await startCountingProxy(berth.url);
    admin = { username: 'admin', password: berth.adminToken };
    layout = await writeOciLayout({ dir: join(dir, 'small'), tag: 'v1', layers: 4, layerBytes: 48 * 1024 });
    big = await writeOciLayout({ dir: join(dir, 'big'), tag: 'v1', layers: 1, layerBytes: 1024 * 1024 });
    await pushLayout(layout, `${source.host}/lab/small:v1`);
    await pushLayout(big, `${source.host}/lab/big:v1`);
  });

  after(async () => {
    await Promise.allSettled([proxy?.close(), source?.stop()]);
    await berth?.close();
    await removeDir(dir);
  });

  it('after an abort once the first blob is in, a second run copies only the missing blobs', async () => {
    const logins = { [berth.host]: admin };
    const abort = new AbortController();
    const context = cloneContext(logins, { signal: abort.signal });
    context.progress = (event) => {
      if (event.kind === 'transfer' && event.state === 'done') abort.abort(new Error('interrupted by the test'));
    };
    const input = { source: `${source.host}/lab/small:v1`, target: `${berth.host}/admin/resumed/small:v1`, concurrency: 1 };
    await assert.rejects(cloneImage(input, context), /interrupted by the test/);

    const resumed = await cloneImage(input, cloneContext(logins));
    const blobs = 1 + layout.images[0]!.layers.length;
    assert.equal(resumed.totals.blobs.skipped, 1, 'the blob copied before the abort is not sent again');
    assert.equal(resumed.totals.blobs.copied, blobs - 1);
    assert.equal(await rawManifest(`${berth.host}/admin/resumed/small:v1`, admin), await rawManifest(`${source.host}/lab/small:v1`));
  });

  it('resumes a partly uploaded blob from the upload session the registry kept', async () => {
    const logins = { [berth.host]: admin };
    const sessions = uploadSessionsFile(join(dir, 'state', 'uploads.json'));
    const abort = new AbortController();
    const saves = new Map<string, number>();
    // A session's second save comes right after its first chunk was accepted: interrupt there.
    const interrupting: UploadSessions = {
      get: (key) => sessions.get(key),
      delete: (key) => sessions.delete(key),
      async set(key, location) {
        await sessions.set(key, location);
        saves.set(key, (saves.get(key) ?? 0) + 1);
        if (saves.get(key) === 2) abort.abort(new Error('interrupted mid-blob'));
      },
    };
    const chunkBytes = 256 * 1024;
    const layer = big.images[0]!.layers[0]!;
    assert.ok(layer.size > 2 * chunkBytes);
    const input = { source: `${source.host}/lab/big:v1`, target: `${berth.host}/admin/resumed/big:v1`, concurrency: 1 };
    // The config (small) goes first or concurrently; only the layer is chunked.
    await assert.rejects(cloneImage({ ...input }, cloneContext(logins, { signal: abort.signal }), { uploadSessions: interrupting, chunkBytes }), /interrupted mid-blob/);

    const events: ProgressEvent[] = [];
    const resumed = await cloneImage(input, cloneContext(logins, { events }), { uploadSessions: sessions, chunkBytes });
    const layerEvents = events.filter((e) => e.kind === 'transfer' && e.id.endsWith(layer.digest)) as Array<Extract<ProgressEvent, { kind: 'transfer' }>>;
    assert.ok(layerEvents.every((e) => e.doneBytes <= e.totalBytes && e.totalBytes === layer.size), 'progress never passes the size');
    assert.ok(layerEvents.some((e) => e.state === 'copying' && e.doneBytes === 2 * chunkBytes), 'each accepted chunk is reported');
    const layerOutcome = resumed.blobs.find((b) => b.digest === layer.digest);
    assert.equal(layerOutcome?.action, 'copied');
    assert.equal(layerOutcome?.resumedFromBytes, chunkBytes, 'the second run starts where the registry says the session stands');
    assert.equal(await rawManifest(`${berth.host}/admin/resumed/big:v1`, admin), await rawManifest(`${source.host}/lab/big:v1`));
  });

  it('mounts blobs across repositories of the same Berth instead of uploading them', async () => {
    await pushLayout(layout, `${proxy.host}/admin/origin/small:v1`, admin);
    const logins = { [proxy.host]: admin };
    const before = proxy.requests.length;
    const result = await cloneImage({ source: `${proxy.host}/admin/origin/small:v1`, target: `${proxy.host}/admin/copy/small:v1` }, cloneContext(logins));
    const requests = proxy.requests.slice(before);
    const blobs = 1 + layout.images[0]!.layers.length;
    assert.equal(result.totals.blobs.mounted, blobs);
    assert.ok(result.blobs.every((b) => b.mountedFrom === 'admin/origin/small'));
    assert.equal(requests.filter((r) => r.method === 'POST' && /[?&]mount=/.test(r.url) && r.status === 201).length, blobs);
    assert.equal(requests.filter((r) => r.method === 'GET' && blobPath.test(r.url)).length, 0, 'no blob is downloaded');
    assert.equal(requests.filter((r) => (r.method === 'PATCH' || r.method === 'PUT') && /\/blobs\/uploads\//.test(r.url)).length, 0, 'no blob is uploaded');
    assert.equal(await rawManifest(`${proxy.host}/admin/copy/small:v1`, admin), await rawManifest(`${proxy.host}/admin/origin/small:v1`, admin));
  });

  it('mounts from a repository this run already filled when copying every tag into several repositories of one target', async () => {
    const logins = { [proxy.host]: admin };
    const { migrateRepositories } = await import('../../../src/toolbox/clone/migrate.ts');
    await pushLayout(layout, `${source.host}/shared/one:v1`);
    await pushLayout(layout, `${source.host}/shared/two:v1`);
    const before = proxy.requests.length;
    const result = await migrateRepositories(
      { from: `${source.host}/shared`, to: `${proxy.host}/admin/shared`, repositories: ['one', 'two'] },
      cloneContext(logins),
    );
    const blobs = 1 + layout.images[0]!.layers.length;
    assert.deepEqual(result.totals?.blobs, { copied: blobs, skipped: 0, mounted: blobs });
    const requests = proxy.requests.slice(before);
    assert.equal(requests.filter((r) => r.method === 'POST' && /from=admin%2Fshared%2Fone/.test(r.url) && r.status === 201).length, blobs);
  });
});
