import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { DigestLocks } from '../../../src/registry/digest-locks.ts';
import type { Digest } from '../../../src/registry/digest.ts';
import { BlobFillAbandoned, BlobFillMismatch, BlobFills, type OpenBlobSource } from '../../../src/registry/pullthrough/blob-fill.ts';
import { BlobNotFound, type BlobStore } from '../../../src/registry/storage/blob-store.ts';
import { FsBlobStore } from '../../../src/registry/storage/fs-blob-store.ts';

const sha256 = (bytes: Buffer): Digest => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const chunkBytes = 64 * 1024;
/** Generous: a test that waits for a byte that never comes fails instead of hanging the suite. */
const deadlock = { timeout: 30_000 };

function chunksOf(bytes: Buffer, size = chunkBytes): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

/** An upstream whose bytes the test releases: nothing arrives until the test pushes it. */
class ControlledSource {
  private readonly queue: (Buffer | Error | null)[] = [];
  private wake: (() => void) | undefined;
  opened = 0;

  constructor(readonly size: number) {}

  readonly open: OpenBlobSource = async () => {
    this.opened++;
    return { size: this.size, body: this.body() };
  };

  push(...chunks: Buffer[]): void {
    this.queue.push(...chunks);
    this.wake?.();
  }

  end(): void {
    this.push(null as unknown as Buffer);
  }

  fail(error: Error): void {
    this.push(error as unknown as Buffer);
  }

  private async *body(): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (this.queue.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
      const item = this.queue.shift()!;
      if (item === null) return;
      if (item instanceof Error) throw item;
      yield item;
    }
  }
}

/** Reads a stream from the start, counting what arrived; `done` settles as the stream does. */
class Reader {
  readonly chunks: Buffer[] = [];
  received = 0;
  readonly done: Promise<Buffer>;
  private waiters: { bytes: number; resolve: () => void }[] = [];

  constructor(readonly body: Readable) {
    this.done = (async () => {
      for await (const chunk of body) {
        this.chunks.push(chunk as Buffer);
        this.received += (chunk as Buffer).length;
        this.waiters = this.waiters.filter((w) => (this.received >= w.bytes ? (w.resolve(), false) : true));
      }
      return Buffer.concat(this.chunks);
    })();
    this.done.catch(() => undefined);
  }

  /** Resolves once at least `bytes` have arrived. */
  got(bytes: number): Promise<void> {
    if (this.received >= bytes) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ bytes, resolve }));
  }
}

async function stagedUploads(store: BlobStore): Promise<string[]> {
  const ids: string[] = [];
  for await (const upload of store.uploads()) ids.push(upload.id);
  return ids;
}

describe('BlobFills (coalesced pull-through fills over FsBlobStore)', () => {
  let root: string;
  let store: FsBlobStore;
  let fills: BlobFills;
  let committed: number[];
  const onCommitted = async (size: number) => void committed.push(size);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'berth-blob-fill-'));
    store = await FsBlobStore.open({ root });
    fills = new BlobFills(store);
    committed = [];
  });
  afterEach(async () => {
    try {
      await fills.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  async function assertNothingLeft(digest: Digest): Promise<void> {
    await assert.rejects(store.stat(digest), BlobNotFound);
    assert.deepEqual(await stagedUploads(store), [], 'no staged upload is left behind');
    assert.equal(fills.inFlight, 0);
    assert.deepEqual(committed, []);
  }

  it('serves the bytes of one fill and commits them', deadlock, async () => {
    const bytes = randomBytes(300 * 1024);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    source.push(...chunksOf(bytes));
    source.end();
    const served = await fills.serve(digest, source.open, onCommitted);
    assert.equal(served.size, bytes.length);
    assert.deepEqual(await new Reader(served.body).done, bytes);
    assert.deepEqual(committed, [bytes.length]);
    assert.deepEqual(await store.stat(digest), { size: bytes.length });
    assert.deepEqual(await stagedUploads(store), []);
    assert.equal(fills.inFlight, 0);
  });

  it('downloads once for 10 concurrent requests, and every one gets identical bytes', deadlock, async () => {
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    const served = await Promise.all(Array.from({ length: 10 }, () => fills.serve(digest, source.open, onCommitted)));
    assert.equal(fills.inFlight, 1);
    const readers = served.map((s) => new Reader(s.body));
    source.push(...chunksOf(bytes));
    source.end();
    for (const received of await Promise.all(readers.map((r) => r.done))) assert.ok(received.equals(bytes));
    assert.equal(source.opened, 1, 'open() was called once');
    assert.deepEqual(committed, Array(10).fill(bytes.length), 'every caller recorded the blob (its own onCommitted)');
    assert.equal(fills.inFlight, 0);
  });

  it('gives a follower that joins midway everything from the first byte', deadlock, async () => {
    const bytes = randomBytes(1024 * 1024);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    const leader = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    const [first, second] = [bytes.subarray(0, 400 * 1024), bytes.subarray(400 * 1024)];
    source.push(...chunksOf(first));
    await leader.got(first.length);
    const follower = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    source.push(...chunksOf(second));
    source.end();
    assert.deepEqual(await follower.done, bytes);
    assert.deepEqual(await leader.done, bytes);
    assert.equal(source.opened, 1);
  });

  it('streams to readers before the fill completes (a slow upstream)', deadlock, async () => {
    const bytes = randomBytes(512 * 1024);
    const digest = sha256(bytes);
    let releaseRest!: () => void;
    const rest = new Promise<void>((resolve) => (releaseRest = resolve));
    // The second half waits until both readers have seen bytes: store-then-serve would never get there.
    const open: OpenBlobSource = async () => ({
      size: bytes.length,
      body: (async function* () {
        yield* chunksOf(bytes.subarray(0, 256 * 1024));
        await rest;
        yield* chunksOf(bytes.subarray(256 * 1024));
      })(),
    });
    const leader = new Reader((await fills.serve(digest, open, onCommitted)).body);
    const follower = new Reader((await fills.serve(digest, open, onCommitted)).body);
    await Promise.all([leader.got(256 * 1024), follower.got(256 * 1024)]);
    assert.deepEqual(committed, [], 'bytes arrived while the fill was still running');
    assert.equal(fills.inFlight, 1);
    releaseRest();
    assert.deepEqual(await leader.done, bytes);
    assert.deepEqual(await follower.done, bytes);
  });

  it('goes on filling when the leader’s client goes away: the blob commits and followers complete', deadlock, async () => {
    const bytes = randomBytes(2 * 1024 * 1024);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    const leader = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    const follower = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    source.push(...chunksOf(bytes.subarray(0, chunkBytes)));
    await leader.got(1);
    leader.body.destroy(new Error('client disconnected'));
    await assert.rejects(leader.done, /client disconnected/);
    source.push(...chunksOf(bytes.subarray(chunkBytes)));
    source.end();
    assert.deepEqual(await follower.done, bytes);
    assert.deepEqual(await store.stat(digest), { size: bytes.length });
    assert.equal(committed[0], bytes.length, 'the leader’s onCommitted ran although its client left');
  });

  it('completes a fill whose only client stopped reading, and the client can finish later from the blob', deadlock, async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    let filled!: () => void;
    const done = new Promise<void>((resolve) => (filled = resolve));
    const served = await fills.serve(digest, source.open, async (size) => {
      committed.push(size);
      filled();
    });
    source.push(...chunksOf(bytes.subarray(0, chunkBytes)));
    const first = await new Promise<Buffer>((resolve) => served.body.once('data', resolve));
    served.body.pause(); // the client stops reading: the fill must not wait for it
    source.push(...chunksOf(bytes.subarray(chunkBytes)));
    source.end();
    await done;
    assert.deepEqual(await store.stat(digest), { size: bytes.length });
    assert.deepEqual(await stagedUploads(store), [], 'the staged upload became the blob');
    const rest = await new Reader(served.body).done;
    assert.deepEqual(Buffer.concat([first, rest]), bytes);
  });

  it('lets a follower that joins after the commit read the blob from the store', deadlock, async () => {
    const bytes = randomBytes(200 * 1024);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    let recorded!: () => void;
    let release!: () => void;
    const leaderRecording = new Promise<void>((resolve) => (recorded = resolve));
    const releaseLeader = new Promise<void>((resolve) => (release = resolve));
    const leader = new Reader(
      (
        await fills.serve(digest, source.open, async (size) => {
          recorded();
          await releaseLeader;
          committed.push(size);
        })
      ).body,
    );
    source.push(...chunksOf(bytes));
    source.end();
    await leaderRecording; // committed, the leader's onCommitted still running
    const follower = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    release();
    assert.deepEqual(await follower.done, bytes);
    assert.deepEqual(await leader.done, bytes);
    assert.equal(source.opened, 1);
  });

  for (const { name, bytes, announced } of [
    { name: 'bytes that do not hash to the digest', bytes: randomBytes(256 * 1024), announced: 256 * 1024 },
    { name: 'more bytes than announced', bytes: randomBytes(256 * 1024), announced: 128 * 1024 },
    { name: 'fewer bytes than announced', bytes: randomBytes(256 * 1024), announced: 512 * 1024 },
  ]) {
    it(`fails every reader on ${name}, and leaves no blob and no staged bytes`, deadlock, async () => {
      const digest = name.startsWith('bytes') ? sha256(randomBytes(256 * 1024)) : sha256(bytes);
      const source = new ControlledSource(announced);
      const readers = [new Reader((await fills.serve(digest, source.open, onCommitted)).body)];
      source.push(...chunksOf(bytes.subarray(0, chunkBytes)));
      await readers[0]!.got(1);
      readers.push(new Reader((await fills.serve(digest, source.open, onCommitted)).body));
      source.push(...chunksOf(bytes.subarray(chunkBytes)));
      source.end();
      for (const reader of readers) await assert.rejects(reader.done, BlobFillMismatch);
      await assertNothingLeft(digest);
    });
  }

  it('fails every reader when the upstream fails mid-stream, and leaves nothing behind', deadlock, async () => {
    const bytes = randomBytes(512 * 1024);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    const leader = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    const follower = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    source.push(...chunksOf(bytes.subarray(0, 128 * 1024)));
    await follower.got(128 * 1024);
    source.fail(new Error('upstream connection reset'));
    await assert.rejects(leader.done, /upstream connection reset/);
    await assert.rejects(follower.done, /upstream connection reset/);
    await assertNothingLeft(digest);
  });

  it('rejects every caller when the download cannot start, and the next request tries again', deadlock, async () => {
    const bytes = randomBytes(64 * 1024);
    const digest = sha256(bytes);
    let refuse!: (error: Error) => void;
    const refused = new Promise<never>((_resolve, reject) => (refuse = reject));
    refused.catch(() => undefined); // rejected before the fill gets to open() it
    const callers = [fills.serve(digest, () => refused, onCommitted), fills.serve(digest, () => refused, onCommitted)];
    refuse(new Error('upstream says 404'));
    for (const caller of callers) await assert.rejects(caller, /upstream says 404/);
    await assertNothingLeft(digest);
    const source = new ControlledSource(bytes.length);
    source.push(bytes);
    source.end();
    assert.deepEqual(await new Reader((await fills.serve(digest, source.open, onCommitted)).body).done, bytes);
  });

  it('abandons a fill that outlives fillTimeoutMs, telling the upstream to stop', deadlock, async () => {
    fills = new BlobFills(store, { fillTimeoutMs: 300 });
    const bytes = randomBytes(128 * 1024);
    const digest = sha256(bytes);
    let upstreamSignal: AbortSignal | undefined;
    const source = new ControlledSource(bytes.length);
    const reader = new Reader(
      (
        await fills.serve(
          digest,
          (signal) => {
            upstreamSignal = signal;
            return source.open(signal);
          },
          onCommitted,
        )
      ).body,
    );
    source.push(bytes.subarray(0, 1024)); // then the upstream stalls
    await assert.rejects(reader.done, BlobFillAbandoned);
    assert.equal(upstreamSignal?.aborted, true);
    await assertNothingLeft(digest);
  });

  it('records the blob under the digest’s lock when given DigestLocks, so garbage collection waits', deadlock, async () => {
    const locks = new DigestLocks();
    fills = new BlobFills(store, { locks });
    const bytes = randomBytes(64 * 1024);
    const digest = sha256(bytes);
    const events: string[] = [];
    let collected!: Promise<void>;
    const source = new ControlledSource(bytes.length);
    source.push(bytes);
    source.end();
    const served = await fills.serve(digest, source.open, async () => {
      // A collector arriving now must wait until the blob is recorded.
      collected = locks.run(digest, async () => {
        events.push('collector');
        await store.stat(digest);
      });
      await new Promise((resolve) => setImmediate(resolve));
      events.push('recorded');
    });
    await new Reader(served.body).done;
    await collected;
    assert.deepEqual(events, ['recorded', 'collector']);
  });

  it('close() abandons fills in flight and removes their staged bytes', deadlock, async () => {
    const bytes = randomBytes(128 * 1024);
    const digest = sha256(bytes);
    const source = new ControlledSource(bytes.length);
    const reader = new Reader((await fills.serve(digest, source.open, onCommitted)).body);
    source.push(bytes.subarray(0, 1024));
    await reader.got(1024);
    await fills.close();
    await assert.rejects(reader.done, BlobFillAbandoned);
    await assertNothingLeft(digest);
  });
});
