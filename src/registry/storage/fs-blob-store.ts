import { createReadStream, createWriteStream, fdatasync, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { isDigest, type Digest } from '../digest.ts';
import { BlobNotFound, UploadNotFound, type BlobStore, type ByteRange, type UploadWriter } from './blob-store.ts';
import { layout, layoutVersion } from './layout.ts';

const uploadIdPattern = /^[a-zA-Z0-9_-]{8,128}$/;
/** Large reads keep syscalls few: blob GETs are bound by copying, not by seeking. */
const readChunkBytes = 1024 * 1024;

/** Blobs as files under one root directory; see `layout.ts` for the tree. */
export class FsBlobStore implements BlobStore {
  private constructor(private readonly root: string) {}

  static async open(options: { root: string }): Promise<FsBlobStore> {
    const root = options.root;
    await mkdir(layout.blobsRoot(root), { recursive: true });
    await mkdir(layout.uploadsRoot(root), { recursive: true });
    const versionFile = layout.versionFile(root);
    const existing = await readFile(versionFile, 'utf8').catch(() => undefined);
    if (existing === undefined) await writeFile(versionFile, layoutVersion);
    else if (existing.trim() !== layoutVersion) {
      throw new Error(`blob store at ${root} has layout version ${existing.trim()}; this Berth reads version ${layoutVersion}`);
    }
    return new FsBlobStore(root);
  }

  async stat(digest: Digest): Promise<{ size: number }> {
    try {
      return { size: (await stat(layout.blob(this.root, digest))).size };
    } catch (error) {
      throw notFoundOr(error, () => new BlobNotFound(digest));
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    const path = layout.blob(this.root, digest);
    // Opening first turns a missing file into BlobNotFound before any byte is promised.
    const handle = await open(path, 'r').catch((error) => {
      throw notFoundOr(error, () => new BlobNotFound(digest));
    });
    return handle.createReadStream({ start: range?.start, end: range?.end, highWaterMark: readChunkBytes });
  }

  async copyTo(digest: Digest, sink: Writable, range?: ByteRange, signal?: AbortSignal): Promise<void> {
    const handle = await open(layout.blob(this.root, digest), 'r').catch((error) => {
      throw notFoundOr(error, () => new BlobNotFound(digest));
    });
    try {
      const end = range ? range.end + 1 : (await handle.stat()).size;
      await copyWithTwoBuffers(handle, sink, range?.start ?? 0, end, signal);
    } finally {
      await handle.close();
    }
  }

  async delete(digest: Digest): Promise<void> {
    await rm(layout.blob(this.root, digest), { force: true });
  }

  async *list(): AsyncIterable<Digest> {
    const blobsRoot = layout.blobsRoot(this.root);
    for (const algorithm of await readdir(blobsRoot).catch(() => [] as string[])) {
      for (const prefix of await readdir(`${blobsRoot}/${algorithm}`).catch(() => [] as string[])) {
        for (const hex of await readdir(`${blobsRoot}/${algorithm}/${prefix}`).catch(() => [] as string[])) {
          const digest = `${algorithm}:${hex}`;
          if (isDigest(digest)) yield digest;
        }
      }
    }
  }

  async upload(id: string, options: { create?: boolean } = {}): Promise<UploadWriter> {
    if (!uploadIdPattern.test(id)) throw new UploadNotFound(id);
    const data = layout.uploadData(this.root, id);
    if (options.create) {
      await mkdir(layout.uploadDir(this.root, id), { recursive: true });
      await writeFile(data, '', { flag: 'a' });
    } else {
      await stat(data).catch((error) => {
        throw notFoundOr(error, () => new UploadNotFound(id));
      });
    }
    return new FsUploadWriter(this.root, id);
  }

  async *uploads(): AsyncIterable<{ id: string; modifiedAt: number }> {
    for (const id of await readdir(layout.uploadsRoot(this.root)).catch(() => [] as string[])) {
      const info = await stat(layout.uploadDir(this.root, id)).catch(() => undefined);
      const data = await stat(layout.uploadData(this.root, id)).catch(() => undefined);
      if (info) yield { id, modifiedAt: Math.max(info.mtimeMs, data?.mtimeMs ?? 0) };
    }
  }
}

class FsUploadWriter implements UploadWriter {
  constructor(
    private readonly root: string,
    readonly id: string,
  ) {}

  private get dataPath(): string {
    return layout.uploadData(this.root, this.id);
  }

  async size(): Promise<number> {
    try {
      return (await stat(this.dataPath)).size;
    } catch (error) {
      throw notFoundOr(error, () => new UploadNotFound(this.id));
    }
  }

  async append(source: AsyncIterable<Uint8Array>, signal?: AbortSignal, onProgress?: (size: number) => void): Promise<number> {
    let staged = onProgress ? await this.size() : 0;
    const sink = createWriteStream(this.dataPath, { flags: 'a', highWaterMark: readChunkBytes });
    let sinkError: Error | undefined;
    sink.on('error', (error) => (sinkError ??= error));
    const flusher = new EarlyFlush(sink);
    try {
      for await (const chunk of source) {
        signal?.throwIfAborted();
        if (sinkError) throw sinkError; // a failed file takes no more writes (nor would it drain)
        // Write callbacks run in order, each once its chunk is in the file.
        const written = onProgress && ((error?: Error | null) => void (error || onProgress((staged += chunk.length))));
        if (!sink.write(chunk, written)) await once(sink, 'drain', signal ? { signal } : {});
        flusher.wrote(chunk.length);
      }
    } finally {
      // Flush rather than destroy, even when the source failed: every byte that arrived stays
      // staged, so a client can resume from what GET on the upload reports.
      await flusher.settled();
      await new Promise<void>((resolve) => sink.end(() => resolve()));
    }
    if (sinkError) throw sinkError;
    return this.size();
  }

  readBack(start = 0): Readable {
    return createReadStream(this.dataPath, { start, highWaterMark: readChunkBytes });
  }

  async commit(digest: Digest): Promise<void> {
    const target = layout.blob(this.root, digest);
    // Flush before the rename so that a blob, once visible, is whole even after a power loss.
    const handle = await open(this.dataPath, 'r+').catch((error) => {
      throw notFoundOr(error, () => new UploadNotFound(this.id));
    });
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await mkdir(dirname(target), { recursive: true });
    await rename(this.dataPath, target);
    await this.cancel();
  }

  async cancel(): Promise<void> {
    await rm(layout.uploadDir(this.root, this.id), { recursive: true, force: true });
  }
}

/** Bytes written between background flushes of a staged upload. */
const earlyFlushBytes = 32 * 1024 * 1024;

/**
 * Starts fdatasync in the background every `earlyFlushBytes` while an upload is written, so the
 * disk flushes while the network still delivers and the flush at commit finds little left to do.
 * Durability is unchanged (commit still syncs); only the waiting moves out of the commit.
 */
class EarlyFlush {
  private unflushed = 0;
  private flushing: Promise<void> = Promise.resolve();
  private fd: number | undefined;

  constructor(sink: WriteStream) {
    sink.once('open', (fd: number) => (this.fd = fd));
  }

  wrote(bytes: number): void {
    this.unflushed += bytes;
    const fd = this.fd;
    if (this.unflushed < earlyFlushBytes || fd === undefined) return;
    this.unflushed = 0;
    this.flushing = this.flushing.then(
      () => new Promise<void>((resolve) => fdatasync(fd, () => resolve())),
    );
  }

  settled(): Promise<void> {
    return this.flushing;
  }
}

/**
 * Copies bytes [start, end) of a file into a sink through two buffers used in turn: one is read
 * into while the sink sends the other, and a buffer is refilled only once the sink has taken it.
 * Allocating a fresh buffer per chunk (as read streams do) made garbage collection, not the disk
 * or the socket, the limit on blob GETs under load.
 */
async function copyWithTwoBuffers(handle: FileHandle, sink: Writable, start: number, end: number, signal?: AbortSignal): Promise<void> {
  const slots = [0, 1].map(() => ({ buffer: Buffer.allocUnsafe(readChunkBytes), taken: Promise.resolve() }));
  const aborted = signal ? once(signal, 'abort').then(() => Promise.reject(signal.reason)) : new Promise<never>(() => undefined);
  aborted.catch(() => undefined);
  let position = start;
  for (let turn = 0; position < end; turn = 1 - turn) {
    const slot = slots[turn]!;
    await Promise.race([slot.taken, aborted]);
    signal?.throwIfAborted();
    const { bytesRead } = await handle.read(slot.buffer, 0, Math.min(slot.buffer.length, end - position), position);
    if (bytesRead === 0) throw new Error(`blob file ended at ${position} of ${end} bytes`);
    position += bytesRead;
    const chunk = bytesRead === slot.buffer.length ? slot.buffer : slot.buffer.subarray(0, bytesRead);
    slot.taken = new Promise<void>((resolve, reject) => sink.write(chunk, (error) => (error ? reject(error) : resolve())));
    slot.taken.catch(() => undefined);
  }
  await Promise.race([Promise.all(slots.map((slot) => slot.taken)), aborted]);
}

function notFoundOr(error: unknown, make: () => Error): Error {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT' ? make() : (error as Error);
}
