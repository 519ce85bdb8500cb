import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Digest } from '../../../src/registry/digest.ts';
import { BlobNotFound, UploadNotFound, type BlobStore } from '../../../src/registry/storage/blob-store.ts';

export interface Skip {
  test: string;
  reason: string;
}

/** Opens a store; `reopen` opens a second instance over the same storage (a restart). */
export interface StoreFactory {
  open(): Promise<{ store: BlobStore; reopen: () => Promise<BlobStore>; cleanup: () => Promise<void> }>;
}

const sha256 = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function readAll(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function commitBytes(store: BlobStore, id: string, bytes: Buffer): Promise<Digest> {
  const digest = sha256(bytes);
  const writer = await store.upload(id, { create: true });
  await writer.append(Readable.from([bytes]));
  await writer.commit(digest);
  return digest;
}

async function* failingAfter(bytes: Buffer): AsyncIterable<Uint8Array> {
  yield bytes;
  throw new Error('client went away');
}

/** The rules every BlobStore keeps; each implementation's test file only calls this. */
export function blobStoreContract(name: string, factory: StoreFactory, skips: Skip[] = []): void {
  const skipped = new Map(skips.map((s) => [s.test, s.reason]));
  const test = (title: string, body: () => Promise<void>) =>
    skipped.has(title) ? it(title, { skip: skipped.get(title) }, body) : it(title, body);

  describe(`BlobStore contract: ${name}`, () => {
    const withStore = async (body: (store: BlobStore, reopen: () => Promise<BlobStore>) => Promise<void>) => {
      const { store, reopen, cleanup } = await factory.open();
      try {
        await body(store, reopen);
      } finally {
        await cleanup();
      }
    };

    test('stat and read of an unknown digest reject with BlobNotFound', () =>
      withStore(async (store) => {
        const digest = sha256(Buffer.from('nothing'));
        await assert.rejects(store.stat(digest), BlobNotFound);
        await assert.rejects(store.read(digest), BlobNotFound);
      }));

    test('a committed upload is readable whole and by range', () =>
      withStore(async (store) => {
        const bytes = Buffer.from('0123456789abcdef');
        const digest = await commitBytes(store, 'upload-range-0001', bytes);
        assert.deepEqual(await store.stat(digest), { size: 16 });
        assert.deepEqual(await readAll(await store.read(digest)), bytes);
        assert.equal((await readAll(await store.read(digest, { start: 3, end: 6 }))).toString(), '3456');
      }));

    test('copyTo writes a blob whole or by range into a sink, and refuses an unknown digest', () =>
      withStore(async (store) => {
        const bytes = randomBytes(3 * 1024 * 1024 + 17);
        const digest = await commitBytes(store, 'upload-copyto-01', bytes);
        const collect = async (range?: { start: number; end: number }) => {
          const chunks: Buffer[] = [];
          const sink = new Writable({
            write(chunk: Buffer, _encoding, done) {
              chunks.push(Buffer.from(chunk)); // a copy: the store may reuse its buffers
              setImmediate(done); // a slow sink
            },
          });
          await store.copyTo(digest, sink, range);
          return Buffer.concat(chunks);
        };
        assert.deepEqual(await collect(), bytes);
        assert.deepEqual(await collect({ start: 1_000_000, end: 2_500_000 }), bytes.subarray(1_000_000, 2_500_001));
        await assert.rejects(store.copyTo(sha256(Buffer.from('none')), new Writable({ write: (_c, _e, done) => done() })), BlobNotFound);
      }));

    test('copyTo stops when its signal aborts', () =>
      withStore(async (store) => {
        const digest = await commitBytes(store, 'upload-copyto-02', randomBytes(4 * 1024 * 1024));
        const controller = new AbortController();
        let written = 0;
        const sink = new Writable({
          write(chunk: Buffer, _encoding, done) {
            written += chunk.length;
            controller.abort(new Error('client went away'));
            done();
          },
        });
        await assert.rejects(store.copyTo(digest, sink, undefined, controller.signal), /client went away/);
        assert.ok(written < 4 * 1024 * 1024, 'it stopped before the end');
      }));

    test('bytes of an upload are not a blob until committed', () =>
      withStore(async (store) => {
        const bytes = Buffer.from('staged only');
        const writer = await store.upload('upload-staged-001', { create: true });
        assert.equal(await writer.append(Readable.from([bytes])), bytes.length);
        await assert.rejects(store.stat(sha256(bytes)), BlobNotFound);
        const listed: string[] = [];
        for await (const d of store.list()) listed.push(d);
        assert.deepEqual(listed, []);
      }));

    test('appends accumulate and survive a restart; a failed append keeps what was written', () =>
      withStore(async (store, reopen) => {
        const writer = await store.upload('upload-resume-001', { create: true });
        await writer.append(Readable.from([Buffer.from('abc')]));
        await assert.rejects(writer.append(failingAfter(Buffer.from('def'))));
        const again = await (await reopen()).upload('upload-resume-001');
        assert.equal(await again.size(), 6);
        assert.equal((await readAll(again.readBack())).toString(), 'abcdef');
        const ids: string[] = [];
        for await (const u of (await reopen()).uploads()) ids.push(u.id);
        assert.deepEqual(ids, ['upload-resume-001']);
      }));

    test('readBack from an offset streams the rest of the staged bytes', () =>
      withStore(async (store) => {
        const writer = await store.upload('upload-readback-01', { create: true });
        await writer.append(Readable.from([Buffer.from('0123456789')]));
        assert.equal((await readAll(writer.readBack(4))).toString(), '456789');
        await writer.append(Readable.from([Buffer.from('abc')]));
        assert.equal((await readAll(writer.readBack(10))).toString(), 'abc', 'bytes appended later are read from where the reader got to');
        assert.equal((await readAll(writer.readBack(13))).length, 0, 'from the end there is nothing (yet)');
        assert.equal((await readAll(writer.readBack())).toString(), '0123456789abc');
      }));

    test('an unknown upload rejects with UploadNotFound unless created', () =>
      withStore(async (store) => {
        await assert.rejects(store.upload('upload-missing-01'), UploadNotFound);
        await assert.rejects(store.upload('../../etc', { create: true }), UploadNotFound);
      }));

    test('a cancelled upload leaves nothing behind, and cancel is idempotent', () =>
      withStore(async (store) => {
        const writer = await store.upload('upload-cancel-01', { create: true });
        await writer.append(Readable.from([Buffer.from('x'.repeat(1000))]));
        await writer.cancel();
        await writer.cancel();
        await assert.rejects(store.upload('upload-cancel-01'), UploadNotFound);
        const ids: string[] = [];
        for await (const u of store.uploads()) ids.push(u.id);
        assert.deepEqual(ids, []);
      }));

    test('committing a digest that already exists keeps one blob and removes the staged copy', () =>
      withStore(async (store) => {
        const bytes = Buffer.from('twice');
        await commitBytes(store, 'upload-twice-001', bytes);
        const digest = await commitBytes(store, 'upload-twice-002', bytes);
        const listed: string[] = [];
        for await (const d of store.list()) listed.push(d);
        assert.deepEqual(listed, [digest]);
        const ids: string[] = [];
        for await (const u of store.uploads()) ids.push(u.id);
        assert.deepEqual(ids, []);
      }));

    test('delete removes a blob and is idempotent', () =>
      withStore(async (store) => {
        const digest = await commitBytes(store, 'upload-delete-01', Buffer.from('bye'));
        await store.delete(digest);
        await store.delete(digest);
        await assert.rejects(store.stat(digest), BlobNotFound);
      }));

    test('list yields every committed digest, from a fresh instance too', () =>
      withStore(async (store, reopen) => {
        const a = await commitBytes(store, 'upload-list-0001', Buffer.from('a'));
        const b = await commitBytes(store, 'upload-list-0002', Buffer.from('b'));
        const listed: string[] = [];
        for await (const d of (await reopen()).list()) listed.push(d);
        assert.deepEqual(listed.sort(), [a, b].sort());
      }));
  });
}
