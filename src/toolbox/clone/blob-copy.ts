import type { RegistryClient } from '../../registry/client/registry-client.ts';
import { ToolboxError, type ProgressSink } from '../toolbox-operation.ts';
import type { UploadSessions } from './upload-sessions.ts';

/** A blob as a manifest describes it. */
export interface BlobDescriptor {
  digest: string;
  size: number;
  mediaType?: string;
}

export type BlobAction = 'copied' | 'skipped' | 'mounted';

export interface BlobOutcome {
  digest: string;
  size: number;
  /** The target repository the blob was put in. */
  repository: string;
  action: BlobAction;
  /** For a mount: the target registry's repository it came from. */
  mountedFrom?: string;
  /** For a copy that continued an interrupted upload: the bytes the registry already held. */
  resumedFromBytes?: number;
}

export interface BlobEnd {
  client: RegistryClient;
  /** Normalised host, for keys and messages. */
  host: string;
  repository: string;
}

export interface BlobCopyOptions {
  /** Target repositories (same registry) that may hold the blob already: one is asked to mount it. */
  mountFrom?: string;
  /** Largest PATCH; a blob no larger goes in one PUT. Smaller chunks resume finer after an interruption. */
  chunkBytes: number;
  sessions?: UploadSessions;
  progress: ProgressSink;
  signal?: AbortSignal;
  label: string;
}

/** How often a running transfer reports its bytes: often enough for a live view, rarely enough for MCP notifications. */
const progressIntervalMs = 200;

/**
 * Puts one blob into the target repository, the cheapest way that works: nothing when it is there
 * already (HEAD), a cross-repository mount when a repository of the same registry may hold it, a
 * resumed upload when an earlier run left a session open, else a stream from the source — one PUT
 * for a small blob, PATCHes of `chunkBytes` then a PUT for a large one. The target verifies the digest.
 */
export async function copyBlob(source: BlobEnd, target: BlobEnd, blob: BlobDescriptor, options: BlobCopyOptions): Promise<BlobOutcome> {
  const { progress, signal, label } = options;
  const report = (state: 'copying' | 'skipped' | 'mounted' | 'done', doneBytes: number) =>
    progress({ kind: 'transfer', id: `${target.repository}@${blob.digest}`, label, totalBytes: blob.size, doneBytes, state });
  const outcome = { digest: blob.digest, size: blob.size, repository: target.repository };

  if ((await target.client.blobSize(target.repository, blob.digest, signal)) !== undefined) {
    report('skipped', blob.size);
    return { ...outcome, action: 'skipped' };
  }

  let location: string | undefined;
  if (options.mountFrom && options.mountFrom !== target.repository) {
    const mount = await target.client.mountBlob(target.repository, blob.digest, options.mountFrom, signal);
    if (mount.mounted) {
      report('mounted', blob.size);
      return { ...outcome, action: 'mounted', mountedFrom: options.mountFrom };
    }
    location = mount.location;
  }

  const sessionKey = `${target.host}/${target.repository}@${blob.digest}`;
  const session = location ? { location, offset: 0 } : await resumeOrStart(target, blob, sessionKey, options);
  await options.sessions?.set(sessionKey, session.location);
  report('copying', session.offset);
  await upload(source, target, blob, session, { ...options, sessionKey, onProgress: (doneBytes) => report('copying', doneBytes) });
  await options.sessions?.delete(sessionKey);
  report('done', blob.size);
  return { ...outcome, action: 'copied', ...(session.offset > 0 ? { resumedFromBytes: session.offset } : {}) };
}

/** The upload session an earlier run left for this blob, where the target still holds it; else a new one. */
async function resumeOrStart(target: BlobEnd, blob: BlobDescriptor, sessionKey: string, options: BlobCopyOptions): Promise<{ location: string; offset: number }> {
  const saved = await options.sessions?.get(sessionKey);
  if (saved) {
    const held = await target.client.uploadedBytes(target.repository, saved, options.signal).catch(() => undefined);
    if (held !== undefined && held <= blob.size) return { location: saved, offset: held };
  }
  return { location: await target.client.startUpload(target.repository, options.signal), offset: 0 };
}

/**
 * Streams the blob from `session.offset` on into the session: PATCHes of `chunkBytes` (each one
 * remembered, so that a later run resumes after it), then the rest with the committing PUT.
 */
async function upload(
  source: BlobEnd,
  target: BlobEnd,
  blob: BlobDescriptor,
  session: { location: string; offset: number },
  options: BlobCopyOptions & { sessionKey: string; onProgress: (doneBytes: number) => void },
): Promise<void> {
  const { signal } = options;
  let { location, offset } = session;
  if (offset === blob.size) {
    // Every byte arrived before an interruption (or the blob is empty): only the commit is missing.
    return target.client.completeUpload(target.repository, location, blob.digest, undefined, signal);
  }
  const download = await source.client.getBlob(source.repository, blob.digest, signal, offset);
  if (offset + download.size !== blob.size) {
    throw new ToolboxError('FAILED', `${source.host}/${source.repository} sent ${offset + download.size} bytes for ${blob.digest}, whose descriptor says ${blob.size}`);
  }
  const cursor = new ByteCursor(download.body, (sent) => options.onProgress(session.offset + sent));
  try {
    while (blob.size - offset > options.chunkBytes) {
      location = await target.client.appendChunk(target.repository, location, { body: cursor.take(options.chunkBytes), start: offset, length: options.chunkBytes }, signal);
      offset += options.chunkBytes;
      await options.sessions?.set(options.sessionKey, location);
      options.onProgress(offset);
    }
    const rest = blob.size - offset;
    await target.client.completeUpload(target.repository, location, blob.digest, { body: cursor.take(rest), length: rest }, signal);
  } finally {
    await cursor.close();
  }
}

/** Hands out an incoming stream in pieces of exact sizes (one per request), counting what has gone out. */
class ByteCursor {
  private readonly source: AsyncIterator<Uint8Array>;
  private leftover: Uint8Array | undefined;
  private sent = 0;
  private reportedAt = 0;

  constructor(
    body: AsyncIterable<Uint8Array>,
    private readonly onProgress: (sent: number) => void,
  ) {
    this.source = body[Symbol.asyncIterator]();
  }

  async *take(count: number): AsyncGenerator<Uint8Array> {
    let left = count;
    while (left > 0) {
      let chunk = this.leftover;
      this.leftover = undefined;
      if (!chunk) {
        const next = await this.source.next();
        if (next.done) throw new ToolboxError('FAILED', 'the source registry ended a blob before its announced size');
        chunk = next.value;
      }
      if (chunk.length > left) {
        this.leftover = chunk.subarray(left);
        chunk = chunk.subarray(0, left);
      }
      left -= chunk.length;
      this.sent += chunk.length;
      if (Date.now() - this.reportedAt >= progressIntervalMs) {
        this.reportedAt = Date.now();
        this.onProgress(this.sent);
      }
      yield chunk;
    }
  }

  /** Releases the source's connection (a no-op when it was read to the end). */
  async close(): Promise<void> {
    await this.source.return?.().catch(() => undefined);
  }
}
