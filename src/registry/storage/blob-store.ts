import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../digest.ts';

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`. */
export interface ByteRange {
  start: number;
  end: number;
}

export class BlobNotFound extends Error {
  constructor(readonly digest: string) {
    super(`blob ${digest} not found`);
    this.name = 'BlobNotFound';
  }
}

export class UploadNotFound extends Error {
  constructor(readonly uploadId: string) {
    super(`upload ${uploadId} not found`);
    this.name = 'UploadNotFound';
  }
}

/**
 * Content-addressed storage of blob bytes, and the staging area where uploads grow until they
 * are committed. Knows nothing of repositories, tags or users: those live in the metadata index.
 *
 * Rules every implementation keeps (tested by `test/registry/storage/blob-store.contract.ts`):
 * - a blob becomes visible only through `UploadWriter.commit`, atomically and whole;
 * - bytes of an upload that was never committed are never readable as a blob;
 * - `delete` and `UploadWriter.cancel` are idempotent;
 * - every method works on a fresh instance over existing storage (after a restart or crash).
 */
export interface BlobStore {
  /** Size of a committed blob. Rejects with BlobNotFound. */
  stat(digest: Digest): Promise<{ size: number }>;
  /** Streams a committed blob, or the inclusive `range` of it. Rejects with BlobNotFound. */
  read(digest: Digest, range?: ByteRange): Promise<Readable>;
  /**
   * Writes a committed blob, or its inclusive `range`, into `sink` (without ending it): the path
   * that serves blobs to clients. Unlike `read`, an implementation may reuse its buffers, because it
   * sees when the sink has taken each chunk. Rejects with BlobNotFound before writing anything, and
   * stops early when `signal` aborts.
   */
  copyTo(digest: Digest, sink: Writable, range?: ByteRange, signal?: AbortSignal): Promise<void>;
  /** Removes a committed blob. Idempotent: an unknown digest is not an error. */
  delete(digest: Digest): Promise<void>;
  /** Every committed digest, in no particular order (for garbage collection). */
  list(): AsyncIterable<Digest>;
  /**
   * The staged upload `id`, created empty when `create` is set. Rejects with UploadNotFound when
   * it does not exist and `create` is not set. Ids are chosen by the caller (random UUIDs).
   */
  upload(id: string, options?: { create?: boolean }): Promise<UploadWriter>;
  /** Staged uploads with the time each was last written (for the stale-upload sweep). */
  uploads(): AsyncIterable<{ id: string; modifiedAt: number }>;
}

export interface UploadWriter {
  readonly id: string;
  /** Bytes staged so far (what survived a crash, too). */
  size(): Promise<number>;
  /**
   * Appends everything `source` yields and resolves with the new size. If the source fails or the
   * signal aborts, the bytes already written stay staged and `size()` tells how many.
   * `onProgress`, when given, is told the staged size each time more bytes are written, so that
   * one long append can be tailed while it runs (a pull-through fill).
   */
  append(source: AsyncIterable<Uint8Array>, signal?: AbortSignal, onProgress?: (size: number) => void): Promise<number>;
  /**
   * Streams the staged bytes from offset `start` (default 0) to the end staged when the stream
   * reaches it: to re-hash an upload resumed after a restart, or to tail an upload another task is
   * still appending to (a pull-through fill). Bytes staged later need another `readBack`.
   */
  readBack(start?: number): Readable;
  /**
   * Publishes the staged bytes as blob `digest` (the caller has verified the digest) and removes
   * the staging area. If the blob already exists, the staged copy is simply discarded.
   */
  commit(digest: Digest): Promise<void>;
  /** Removes the staged bytes. Idempotent. */
  cancel(): Promise<void>;
}
