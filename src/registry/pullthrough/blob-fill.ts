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
/** Upstream bytes staged per append when the upstream is fast; a fill holds at most about twice this. */
const batchBytes = 2 * 1024 * 1024;
/** How long a chunk may wait for its batch to fill: what a slow upstream adds to the bytes' way to readers. */
const maxBatchDelayMs = 20;

/**
 * Coalesced cache fills of blobs from an upstream (STYLE pattern 8): one download per digest, however
 * many clients ask for it at once, streamed to all of them while it is stored. Every reader, the
 * leader's client included, tails the staged upload as the fill reports progress, so a slow or
 * vanished client never slows or stops the fill.
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
  /** Bytes known to be in the staged upload: readers may read up to here. */
  private staged = 0;
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

  /** Hashes and counts the bytes as they arrive and stages them through a bounded queue. */
  private async stage(body: AsyncIterable<Uint8Array>, writer: UploadWriter): Promise<void> {
    const hash = newHash(algorithmOf(this.digest));
    const queue = new StagingQueue(writer, (staged) => {
      this.staged = staged;
      this.renewChange();
    });
    let received = 0;
    try {
      for await (const chunk of untilAbortedEach(body, this.abort.signal)) {
        received += chunk.length;
        if (received > this.size) throw new BlobFillMismatch(this.digest, `more than the ${this.size} bytes announced`);
        hash.update(chunk);
        await queue.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      }
      await queue.flush();
    } finally {
      await queue.close();
    }
    if (received !== this.size) throw new BlobFillMismatch(this.digest, `${received} of the ${this.size} bytes announced`);
    const actual = `${algorithmOf(this.digest)}:${hash.digest('hex')}`;
    if (actual !== this.digest) throw new BlobFillMismatch(this.digest, `it hashes to ${actual}`);
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
    this.wake?.();
    this.changed = new Promise<void>((resolve) => (this.wake = resolve));
  }

  /**
   * One reader's bytes: the staged upload from wherever this reader got to, while the fill stages
   * it, then the rest from the committed blob. Ends once `recorded` (the caller's onCommitted)
   * resolved, throws the fill's failure, and returns early when `stop` aborts (the client left).
   */
  async *tail(recorded: Promise<unknown>, stop: AbortSignal): AsyncGenerator<Buffer> {
    let position = 0;
    for (;;) {
      const phase = this.phase;
      if (phase === 'failed') throw this.failure;
      if (phase === 'committed' || phase === 'complete') break;
      const changed = this.changed;
      if ((phase === 'staging' || phase === 'committing') && position < this.staged) {
        const from = position;
        try {
          for await (const chunk of this.writer!.readBack(position) as AsyncIterable<Buffer>) {
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
 * Chunks on their way into the staged upload. Each append opens and closes the staged file, so
 * chunks are gathered into batches: an append starts once a batch is full, once its first chunk
 * has waited `maxBatchDelayMs` (a slow upstream still streams), or at the end. One append runs at a
 * time; with a full batch waiting too, `push` waits for the disk.
 */
class StagingQueue {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private pendingSince = 0;
  private ending = false;
  private writing: Promise<void> | undefined;
  private batchTaken!: Promise<void>;
  private announceBatchTaken!: () => void;
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  private failure: unknown;

  constructor(
    private readonly writer: UploadWriter,
    private readonly onStaged: (stagedBytes: number) => void,
  ) {
    this.renewBatchTaken();
  }

  /** Queues a chunk; waits while a full batch waits for a running append. Rejects once an append failed. */
  async push(chunk: Buffer): Promise<void> {
    this.throwIfFailed();
    if (this.pending.length === 0) this.pendingSince = Date.now();
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.schedule();
    // A full batch behind a running append: wait until the next append takes it (or the disk failed).
    while (this.pendingBytes >= batchBytes && !this.failed) await this.batchTaken;
    this.throwIfFailed();
  }

  /** Stages everything queued; rejects when an append failed. */
  async flush(): Promise<void> {
    this.ending = true;
    this.schedule();
    await this.settle();
    this.throwIfFailed();
  }

  /** Drops what is queued and resolves when no append is running (never rejects). */
  async close(): Promise<void> {
    clearTimeout(this.timer);
    this.pending = [];
    await this.settle();
  }

  private async settle(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private due(): boolean {
    return this.ending || this.pendingBytes >= batchBytes || Date.now() - this.pendingSince >= maxBatchDelayMs;
  }

  /** Starts an append when a batch is due, else makes sure a timer will look again. */
  private schedule(): void {
    if (this.writing || this.pending.length === 0 || this.failed) return;
    if (this.due()) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.writing = this.drain();
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, maxBatchDelayMs);
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 && this.due()) {
        const batch = this.pending;
        this.pending = [];
        this.pendingBytes = 0;
        this.pendingSince = Date.now();
        this.renewBatchTaken();
        this.onStaged(await this.writer.append(fromChunks(batch)));
      }
    } catch (error) {
      this.failed = true;
      this.failure = error;
      this.pending = [];
      this.renewBatchTaken();
    } finally {
      // Same turn as the loop's last check: a chunk pushed from now on is scheduled anew.
      this.writing = undefined;
    }
    this.schedule();
  }

  private renewBatchTaken(): void {
    this.announceBatchTaken?.();
    this.batchTaken = new Promise<void>((resolve) => (this.announceBatchTaken = resolve));
  }

  private throwIfFailed(): void {
    if (this.failed) throw this.failure;
  }
}

async function* fromChunks(chunks: Buffer[]): AsyncGenerator<Buffer> {
  yield* chunks;
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
