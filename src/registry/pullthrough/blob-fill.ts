import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { DigestLocks } from '../digest-locks.ts';
import { algorithmOf, newHash, type Digest } from '../digest.ts';
import type { BlobStore, UploadWriter } from '../storage/blob-store.ts';

/** Where a fill gets its bytes: usually `UpstreamRegistry.getBlob`, told to stop through `signal`. */
export type OpenBlobSource = (signal: AbortSignal) => Promise<{ size: number; body: AsyncIterable<Uint8Array> }>;

export interface BlobFillOptions {
  /** A fill that has not committed after this long is abandoned, whoever is still reading. Default 30 min. */
  fillTimeoutMs?: number;
  /**
   * The registry's per-digest locks: committing the blob and recording it (`onCommitted`) then run
   * under the digest's lock, so garbage collection cannot remove the blob between the two.
   */
  locks?: DigestLocks;
}

/** The source's bytes do not match the digest (or the size) they were fetched for. */
export class BlobFillMismatch extends Error {
  constructor(
    readonly digest: Digest,
    problem: string,
  ) {
    super(`upstream content for ${digest} is wrong: ${problem}`);
    this.name = 'BlobFillMismatch';
  }
}

/** A fill did not finish within `fillTimeoutMs`, or the fills were closed. */
export class BlobFillAbandoned extends Error {
  constructor(
    readonly digest: Digest,
    reason: string,
  ) {
    super(`cache fill of ${digest} abandoned: ${reason}`);
    this.name = 'BlobFillAbandoned';
  }
}

const defaultFillTimeoutMs = 30 * 60 * 1000;
/** Upstream bytes that may wait for the disk before the download waits too. */
const maxQueuedBytes = 2 * 1024 * 1024;
/**
 * The latest bytes a fill keeps in memory once they are staged, so that readers who keep up with
 * the upstream get them without waiting for the disk and reading them back; readers further behind
 * read the staged file (from the page cache). Small on purpose: bytes sent soon after they arrived
 * are still in the CPU's cache, and a 4 MiB window cost more CPU per byte than the disk path.
 */
const recentBytes = 1024 * 1024;
/**
 * Readers are woken once this much more arrived (or `maxWakeDelayMs` after the first of it), and
 * take up to `maxReadBytes` at a time: waking and writing per upstream chunk (often 64 KiB) cost
 * more CPU than the disk path it replaces.
 */
const wakeBytes = 512 * 1024;
const maxWakeDelayMs = 5;
const maxReadBytes = 1024 * 1024;

/**
 * Coalesced cache fills of blobs from an upstream (STYLE pattern 8): one download per digest, however
 * many clients ask for it at once, streamed to all of them while it is stored. Every reader, the
 * leader's client included, tails the fill: the latest bytes from memory, older ones from the staged
 * upload, so a slow or vanished client never slows or stops the fill, and memory stays bounded.
 */
export class BlobFills {
  private readonly fills = new Map<Digest, Fill>();
  private readonly fillTimeoutMs: number;

  constructor(
    private readonly store: BlobStore,
    private readonly options: BlobFillOptions = {},
  ) {
    this.fillTimeoutMs = options.fillTimeoutMs ?? defaultFillTimeoutMs;
  }

  /**
   * Serves `digest` to one client while storing it. The first caller (leader) starts ONE download
   * via `open()`, which is written to a staged upload of the BlobStore and hashed as it lands; it is
   * committed only if size and digest match, and the leader's `onCommitted(size)` is awaited before
   * the fill completes. Concurrent callers for the same digest (followers) do not call `open()`: they
   * tail the leader's staged bytes as they land. Each follower's own `onCommitted` (to record the
   * blob in its repository) runs once the fill is complete, whether or not its client stayed; if it
   * fails, only that follower's stream errors. Every stream ends only after its caller's
   * `onCommitted`, so a client never takes unverified bytes for a whole blob.
   *
   * Rejects with `open()`'s error when the download cannot start. A client that goes away stops only
   * its own stream; the fill goes on (within `fillTimeoutMs`). A mismatch (BlobFillMismatch) or a
   * failing source errors every stream and leaves no blob and no staged bytes. The caller looks in
   * the store first: a fill always downloads, and committing a blob that already exists is harmless.
   */
  async serve(digest: Digest, open: OpenBlobSource, onCommitted: (size: number) => Promise<void>): Promise<{ size: number; body: Readable }> {
    let fill = this.fills.get(digest);
    const follower = fill !== undefined;
    if (!fill) {
      const started = new Fill(this.store, digest, this.fillTimeoutMs, (work) => this.locked(digest, work));
      this.fills.set(digest, started);
      void started.run(open, onCommitted, () => this.forget(started));
      fill = started;
    }
    const size = await fill.started;
    // A follower records the blob for its own caller once the fill is complete, whether or not its client stays.
    const recorded = follower ? fill.completion.then(() => this.locked(digest, () => onCommitted(size))) : fill.completion;
    recorded.catch(() => undefined);
    return { size, body: tailStream((stop) => fill.tail(recorded, stop)) };
  }

  /** Fills in flight (for tests and metrics). */
  get inFlight(): number {
    return this.fills.size;
  }

  /** Abandons every fill in flight (their readers error) and waits until their staged bytes are gone. */
  async close(): Promise<void> {
    await Promise.all([...this.fills.values()].map((fill) => fill.abandon('the registry is shutting down')));
  }

  private forget(fill: Fill): void {
    if (this.fills.get(fill.digest) === fill) this.fills.delete(fill.digest);
  }

  private locked(digest: Digest, work: () => Promise<void>): Promise<void> {
    return this.options.locks ? this.options.locks.run(digest, work) : work();
  }
}

type Phase = 'opening' | 'staging' | 'committing' | 'committed' | 'complete' | 'failing' | 'failed';

/** One download: its staged upload, how far it got, and the readers' wake-up call. */
class Fill {
  /** Resolves with the size once the download has started; rejects when it could not. */
  readonly started: Promise<number>;
  /** Resolves once the blob is committed and the leader's onCommitted ran; rejects with the fill's failure. */
  readonly completion: Promise<number>;
  private markStarted!: (size: number) => void;
  private failStart!: (error: unknown) => void;
  private markComplete!: (size: number) => void;
  private failCompletion!: (error: unknown) => void;
  private phase: Phase = 'opening';
  private failure: unknown;
  private size = 0;
  /** Bytes known to be in the staged upload. */
  private staged = 0;
  /** The latest bytes readers may have (`recent.end` of them): all but the blob's last ones until they are verified. */
  private readonly recent = new RecentBytes();
  /** Bytes released since readers were last woken, and the timer that wakes them for a slow upstream. */
  private unannounced = 0;
  private wakeTimer: NodeJS.Timeout | undefined;
  private writer: UploadWriter | undefined;
  private wake!: () => void;
  private changed!: Promise<void>;
  private readonly abort = new AbortController();
  private settled: Promise<void> | undefined;

  constructor(
    private readonly store: BlobStore,
    readonly digest: Digest,
    private readonly timeoutMs: number,
    /** Runs work under the digest's lock. */
    private readonly locked: (work: () => Promise<void>) => Promise<void>,
  ) {
    this.started = new Promise<number>((resolve, reject) => {
      this.markStarted = resolve;
      this.failStart = reject;
    });
    this.completion = new Promise<number>((resolve, reject) => {
      this.markComplete = resolve;
      this.failCompletion = reject;
    });
    this.started.catch(() => undefined);
    this.completion.catch(() => undefined);
    this.renewChange();
  }

  run(open: OpenBlobSource, onCommitted: (size: number) => Promise<void>, forget: () => void): Promise<void> {
    const timer = setTimeout(() => this.abort.abort(new BlobFillAbandoned(this.digest, `not done within ${this.timeoutMs} ms`)), this.timeoutMs);
    this.settled = this.fill(open, onCommitted)
      .catch((error) => this.fail(error))
      .finally(() => {
        clearTimeout(timer);
        forget();
        if (this.phase === 'failing') {
          this.announce('failed');
          this.failStart(this.failure);
          this.failCompletion(this.failure);
        } else {
          this.announce('complete');
          this.markComplete(this.size);
        }
      });
    return this.settled;
  }

  /** Aborts the fill and resolves once its staged bytes are gone (or it completed anyway). */
  async abandon(reason: string): Promise<void> {
    this.abort.abort(new BlobFillAbandoned(this.digest, reason));
    await this.settled;
  }

  private async fill(open: OpenBlobSource, onCommitted: (size: number) => Promise<void>): Promise<void> {
    const source = await untilAborted(open(this.abort.signal), this.abort.signal);
    this.writer = await this.store.upload(`fill-${randomUUID()}`, { create: true });
    this.size = source.size;
    this.announce('staging');
    this.markStarted(source.size);
    await this.stage(source.body, this.writer);
    await this.commit(onCommitted);
  }

  private async commit(onCommitted: (size: number) => Promise<void>): Promise<void> {
    this.announce('committing');
    await this.locked(async () => {
      await this.writer!.commit(this.digest);
      this.announce('committed');
      await onCommitted(this.size);
    });
  }

  /**
   * Hashes and counts the bytes as they arrive, hands them to readers, and stages them through a
   * bounded queue. The chunk that completes the blob reaches readers only once the whole blob
   * verified, so that no reader holds every byte of a blob that turns out to be wrong.
   */
  private async stage(body: AsyncIterable<Uint8Array>, writer: UploadWriter): Promise<void> {
    const hash = newHash(algorithmOf(this.digest));
    // Disk progress wakes no reader: one behind memory always has staged bytes to read.
    const queue = new StagingQueue(writer, (staged) => {
      this.staged = staged;
      this.recent.evict(staged, recentBytes);
    });
    let received = 0;
    let last: Buffer | undefined;
    try {
      for await (const chunk of untilAbortedEach(body, this.abort.signal)) {
        received += chunk.length;
        if (received > this.size) throw new BlobFillMismatch(this.digest, `more than the ${this.size} bytes announced`);
        hash.update(chunk);
        const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
        if (received < this.size) this.release(bytes);
        else last = bytes;
        await queue.push(bytes);
      }
      if (received !== this.size) throw new BlobFillMismatch(this.digest, `${received} of the ${this.size} bytes announced`);
      const actual = `${algorithmOf(this.digest)}:${hash.digest('hex')}`;
      if (actual !== this.digest) throw new BlobFillMismatch(this.digest, `it hashes to ${actual}`);
      if (last) this.release(last, { wakeNow: true });
      await queue.flush();
    } finally {
      await queue.close();
    }
  }

  /** Hands bytes to readers (from memory), and forgets the oldest ones that are on disk. */
  private release(bytes: Buffer, options: { wakeNow?: boolean } = {}): void {
    this.recent.add(bytes);
    this.recent.evict(this.staged, recentBytes);
    this.unannounced += bytes.length;
    if (options.wakeNow || this.unannounced >= wakeBytes) this.renewChange();
    else this.wakeTimer ??= setTimeout(() => this.renewChange(), maxWakeDelayMs);
  }

  /** Removes the staged bytes before any reader hears of the failure, so that none sees them afterwards. */
  private async fail(error: unknown): Promise<void> {
    this.failure = error;
    this.abort.abort(error);
    const committed = this.phase === 'committed';
    this.announce('failing');
    if (!committed) await this.writer?.cancel().catch(() => undefined);
  }

  private announce(phase: Phase): void {
    this.phase = phase;
    this.renewChange();
  }

  /** Wakes every reader waiting for progress, and sets up the next wake-up. */
  private renewChange(): void {
    clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.unannounced = 0;
    this.wake?.();
    this.changed = new Promise<void>((resolve) => (this.wake = resolve));
  }

  /**
   * One reader's bytes while the fill runs: the latest from memory, older ones from the staged
   * upload, then the rest from the committed blob. Ends once `recorded` (the caller's onCommitted)
   * resolved, throws the fill's failure, and returns early when `stop` aborts (the client left).
   */
  async *tail(recorded: Promise<unknown>, stop: AbortSignal): AsyncGenerator<Buffer> {
    let position = 0;
    for (;;) {
      const phase = this.phase;
      if (phase === 'failed') throw this.failure;
      if (phase === 'committed' || phase === 'complete') break;
      const changed = this.changed;
      if ((phase === 'staging' || phase === 'committing') && position < this.recent.end) {
        const held = this.recent.take(position, maxReadBytes);
        if (held) {
          position += held.length;
          yield held;
          continue;
        }
        // Further behind than memory reaches, which the staged file always covers.
        const from = position;
        try {
          for await (const chunk of this.readStaged(position)) {
            if (this.phase === 'failing' || this.phase === 'failed') break;
            position += chunk.length;
            yield chunk;
          }
          if (position > from) continue;
        } catch (error) {
          // The staged file moves away when the blob is committed (or is removed when the fill fails).
          if (this.phase === 'staging') throw error;
        }
      }
      if (!(await unlessStopped(changed, stop))) return;
    }
    if (position < this.size) {
      for await (const chunk of await this.store.read(this.digest, { start: position, end: this.size - 1 })) yield chunk as Buffer;
    }
    await unlessStopped(recorded, stop);
  }

  /** The staged upload from `position` up to what readers may have by now. */
  private async *readStaged(position: number): AsyncGenerator<Buffer> {
    const limit = Math.min(this.staged, this.recent.end);
    if (position >= limit) return;
    let at = position;
    for await (const chunk of this.writer!.readBack(position) as AsyncIterable<Buffer>) {
      const wanted = chunk.subarray(0, limit - at);
      at += wanted.length;
      yield wanted;
      if (at >= limit) return;
    }
  }
}

/**
 * The latest bytes of a fill, in the order they arrived: `[start, end)` of the blob. Chunks are
 * the upstream's own buffers, shared with the staging queue, never copied.
 */
class RecentBytes {
  private readonly chunks: Buffer[] = [];
  start = 0;
  end = 0;

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.end += chunk.length;
  }

  /**
   * Up to `max` held bytes from `position` on, in one buffer (copied only when they span chunks);
   * undefined when `position` is not held.
   */
  take(position: number, max: number): Buffer | undefined {
    if (position < this.start || position >= this.end) return undefined;
    const pieces: Buffer[] = [];
    let taken = 0;
    let offset = this.start;
    for (const chunk of this.chunks) {
      const from = Math.max(position - offset, 0);
      offset += chunk.length;
      if (from >= chunk.length) continue;
      const piece = chunk.subarray(from, from + max - taken);
      pieces.push(piece);
      taken += piece.length;
      if (taken >= max) break;
    }
    return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, taken);
  }

  /** Forgets the oldest chunks that are below `staged` (on disk) while more than `keep` bytes would stay. */
  evict(staged: number, keep: number): void {
    for (let first = this.chunks[0]; first; first = this.chunks[0]) {
      if (this.start + first.length > staged || this.end - this.start - first.length < keep) return;
      this.chunks.shift();
      this.start += first.length;
    }
  }
}

/**
 * A byte stream over a reader's chunks. Destroying it (the client left) stops the reader at once,
 * even while it waits for the fill, instead of when the next bytes land.
 */
function tailStream(tail: (stop: AbortSignal) => AsyncGenerator<Buffer>): Readable {
  const stop = new AbortController();
  const chunks = tail(stop.signal);
  return new Readable({
    async read() {
      try {
        const next = await chunks.next();
        this.push(next.done ? null : next.value);
      } catch (error) {
        this.destroy(error as Error);
      }
    },
    destroy(error, callback) {
      stop.abort();
      chunks.return(undefined).then(
        () => callback(error),
        () => callback(error),
      );
    },
  });
}

/** True once `promise` resolved; false as soon as the reader is stopped. Rejects like `promise` otherwise. */
function unlessStopped(promise: Promise<unknown>, stop: AbortSignal): Promise<boolean> {
  return untilAborted(promise, stop).then(
    () => true,
    (error) => (stop.aborted ? false : Promise.reject(error)),
  );
}

/**
 * Chunks on their way into the staged upload: one append for the whole fill, fed as the chunks
 * arrive, telling `onStaged` how far the file got as each chunk lands in it. `push` waits while
 * `maxQueuedBytes` wait for the disk, so a slow disk slows the download rather than filling memory.
 */
class StagingQueue {
  private readonly queued: Buffer[] = [];
  private queuedBytes = 0;
  private ending = false;
  private failed = false;
  private failure: unknown;
  private wakeWriter: (() => void) | undefined;
  private roomMade!: Promise<void>;
  private makeRoom!: () => void;
  private readonly appending: Promise<void>;

  constructor(writer: UploadWriter, onStaged: (stagedBytes: number) => void) {
    this.renewRoom();
    this.appending = writer.append(this.chunks(), undefined, onStaged).then(
      () => undefined,
      (error: unknown) => {
        this.failed = true;
        this.failure = error;
        this.drop();
      },
    );
  }

  /** Queues a chunk; waits while the queue is full. Rejects once the append failed. */
  async push(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    this.queued.push(chunk);
    this.queuedBytes += chunk.length;
    this.wakeWriter?.();
    while (this.queuedBytes >= maxQueuedBytes && !this.failed) await this.roomMade;
    this.throwIfFailed();
  }

  /** Stages everything queued and ends the append; rejects when it failed. */
  async flush(): Promise<void> {
    this.end();
    await this.appending;
    this.throwIfFailed();
  }

  /** Drops what is queued, ends the append, and resolves once it has (never rejects). */
  async close(): Promise<void> {
    this.drop();
    this.end();
    await this.appending;
  }

  /** What the append writes: queued chunks as they come, until the queue is ended. */
  private async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      const chunk = this.queued.shift();
      if (chunk) {
        this.queuedBytes -= chunk.length;
        this.renewRoom();
        yield chunk;
      } else if (this.ending) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.wakeWriter = resolve));
        this.wakeWriter = undefined;
      }
    }
  }

  private end(): void {
    this.ending = true;
    this.wakeWriter?.();
  }

  private drop(): void {
    this.queued.length = 0;
    this.queuedBytes = 0;
    this.renewRoom();
  }

  /** Wakes a waiting `push`, and sets up the next wake-up. */
  private renewRoom(): void {
    this.makeRoom?.();
    this.roomMade = new Promise<void>((resolve) => (this.makeRoom = resolve));
  }

  private throwIfFailed(): void {
    if (this.failed) throw this.failure;
  }
}

/** Settles like `promise`, or rejects with the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** Iterates `source`, giving up (and releasing it) as soon as the signal aborts, even mid-wait. */
async function* untilAbortedEach<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await untilAborted(iterator.next(), signal);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: a source stuck in next() would hold the fill's failure back.
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
  }
}
