import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Readable } from 'node:stream';
import { digestOf, type Digest } from '../../src/registry/digest.ts';
import { BlobNotFound } from '../../src/registry/storage/blob-store.ts';
import { databaseKinds } from '../support/databases.ts';
import { useRegistryParts } from '../support/registry-parts.ts';

// A cutoff in the future: every blob is past its grace period, however fast the test runs.
const collectAll = { graceMs: -60_000, uploadExpiryMs: 86_400_000 };

for (const { kind, open } of databaseKinds) {
  describe(`garbage collection on ${kind}`, () => {
    const setup = useRegistryParts(open);

    const stored = (digest: Digest) => setup.parts.blobs.stat(digest).then(() => true, (e: unknown) => (e instanceof BlobNotFound ? false : Promise.reject(e)));

    it('deletes blobs no manifest references and keeps those that one does', async () => {
      const repo = await setup.parts.repository('gc/one');
      const config = await setup.parts.pushBlob(repo, Buffer.from('{"config":1}'));
      const layer = await setup.parts.pushBlob(repo, randomBytes(1000));
      const manifest = await setup.parts.pushImage(repo, [config, layer], 'v1');
      const loose = await setup.parts.pushBlob(repo, randomBytes(500));
      const report = await setup.parts.gc.collect(collectAll);
      assert.equal(report.deletedBlobs, 1);
      assert.equal(report.freedBytes, 500);
      assert.equal(await stored(loose), false);
      for (const kept of [config, layer, manifest]) assert.equal(await stored(kept), true);
      await assert.rejects(setup.parts.registry.blobSize(repo, loose), /not in this repository/);
    });

    it('spares blobs within the grace period, so a push whose manifest comes last keeps its layers', async () => {
      const repo = await setup.parts.repository('gc/grace');
      const config = await setup.parts.pushBlob(repo, Buffer.from('{"config":2}'));
      const layer = await setup.parts.pushBlob(repo, randomBytes(2000));
      const report = await setup.parts.gc.collect({ graceMs: 60_000, uploadExpiryMs: 86_400_000 });
      assert.equal(report.deletedBlobs, 0);
      await setup.parts.pushImage(repo, [config, layer], 'late-manifest');
      assert.equal(await stored(layer), true);
    });

    it('a deleted manifest frees its blobs unless another manifest shares them', async () => {
      const repo = await setup.parts.repository('gc/shared');
      const config = await setup.parts.pushBlob(repo, Buffer.from('{"config":3}'));
      const shared = await setup.parts.pushBlob(repo, randomBytes(300));
      const only = await setup.parts.pushBlob(repo, randomBytes(301));
      const first = await setup.parts.pushImage(repo, [config, shared, only], 'a');
      await setup.parts.pushImage(repo, [config, shared], 'b');
      await setup.parts.registry.deleteManifest(repo, { digest: first });
      await setup.parts.gc.collect(collectAll);
      assert.equal(await stored(only), false);
      assert.equal(await stored(first), false);
      assert.equal(await stored(shared), true);
    });

    it('removes blob files that no database row knows (a crash between commit and record)', async () => {
      const bytes = randomBytes(64);
      const digest = digestOf(bytes);
      const writer = await setup.parts.blobs.upload('orphan-upload-01', { create: true });
      await writer.append(Readable.from([bytes]));
      await writer.commit(digest);
      const dry = await setup.parts.gc.collect({ ...collectAll, dryRun: true });
      assert.equal(dry.orphanFiles, 1);
      assert.equal(await stored(digest), true);
      const report = await setup.parts.gc.collect(collectAll);
      assert.equal(report.orphanFiles, 1);
      assert.equal(await stored(digest), false);
    });

    it('a dry run reports and deletes nothing', async () => {
      const repo = await setup.parts.repository('gc/dry');
      const loose = await setup.parts.pushBlob(repo, randomBytes(10));
      const report = await setup.parts.gc.collect({ ...collectAll, dryRun: true });
      assert.equal(report.dryRun, true);
      assert.ok(report.deletedBlobs >= 1);
      assert.equal(await stored(loose), true);
      assert.equal((await setup.parts.registry.blobSize(repo, loose)) > 0, true);
    });

    it('never leaves a recorded blob without its file when the same digest is pushed during collection', async () => {
      const repo = await setup.parts.repository('gc/race');
      const bytes = randomBytes(4096);
      for (let round = 0; round < 10; round++) {
        await Promise.all([setup.parts.gc.collect(collectAll), setup.parts.pushBlob(repo, bytes), setup.parts.gc.collect(collectAll)]);
        const rows = await setup.database.opened.db.selectFrom('blobs').select('digest').execute();
        for (const row of rows) assert.equal(await stored(row.digest as Digest), true, `row ${row.digest} lost its file`);
      }
    });

    it('sweeps uploads untouched for longer than the expiry, and their staged bytes', async () => {
      const repo = await setup.parts.repository('gc/uploads');
      const id = await setup.parts.uploads.start(repo);
      await setup.parts.uploads.append(repo, id, Readable.from([Buffer.from('partial')]));
      const kept = await setup.parts.gc.collect({ graceMs: -60_000, uploadExpiryMs: 60_000 });
      assert.equal(kept.staleUploads, 0);
      const swept = await setup.parts.gc.collect({ graceMs: -60_000, uploadExpiryMs: -60_000 });
      assert.equal(swept.staleUploads, 1);
      await assert.rejects(setup.parts.uploads.size(repo, id), /unknown or finished/);
    });
  });
}
