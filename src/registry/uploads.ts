import { randomUUID, type Hash } from 'node:crypto';
import type { Db } from '../db/database.ts';
import { algorithmOf, newHash, type Digest } from './digest.ts';
import type { DigestLocks } from './digest-locks.ts';
import { RegistryError } from './errors.ts';
import type { Repository, RepositoryIndex } from './repository-index.ts';
import { UploadNotFound, type BlobStore, type UploadWriter } from './storage/blob-store.ts';

export interface AppendOptions {
  /** First byte offset the client claims for this chunk (Content-Range); must equal the current size. */
  start?: number;
  /** Bytes the client declared for this chunk; a body of another length is rejected. */
  length?: number;
  signal?: AbortSignal;
}

/** Running sha256 of an upload, valid while `size` matches the staged bytes. */
interface HashState {
  size: number;
  hash: Hash;
}

/**
 * Blob uploads: monolithic, chunked and streamed. Bytes are hashed as they are written; the digest
 * is checked on completion before the blob is committed atomically. Uploads survive a restart:
 * their bytes are staged in the BlobStore and their owner repository is in the database.
 */
export class Uploads {
  private readonly hashes = new Map<string, HashState>();
  private readonly busy = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly blobs: BlobStore,
    private readonly index: RepositoryIndex,
    private readonly locks: DigestLocks,
  ) {}

  async start(repository: Repository): Promise<string> {
    const id = randomUUID();
    const now = Date.now();
    await this.blobs.upload(id, { create: true });
    await this.db.insertInto('uploads').values({ id, repository_id: repository.id, started_at: now, touched_at: now }).execute();
    this.hashes.set(id, { size: 0, hash: newHash('sha256') });
    return id;
  }

  /** Bytes received so far. Rejects with BlobUploadUnknown. */
  async size(repository: Repository, id: string): Promise<number> {
    return (await this.writer(repository, id)).size();
  }

  /** Appends a chunk (or a stream of unknown length) and resolves with the new size. */
  async append(repository: Repository, id: string, body: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    return this.exclusive(id, async () => {
      const writer = await this.writer(repository, id);
      return this.appendTo(writer, body, options);
    });
  }

  /**
   * Appends the optional last chunk, checks the whole upload against `digest` and commits it as a
   * blob of the repository. On a mismatch nothing is committed and the upload stays open.
   */
  async complete(repository: Repository, id: string, digest: Digest, body?: AsyncIterable<Uint8Array>, options: AppendOptions = {}): Promise<number> {
    return this.exclusive(id, async () => {
      const writer = await this.writer(repository, id);
      if (body) await this.appendTo(writer, body, options);
      const size = await writer.size();
      const actual = await this.digestOf(writer, algorithmOf(digest), size);
      if (actual !== digest) {
        throw new RegistryError('DigestInvalid', `content hashes to ${actual}, not ${digest}`, { expected: digest, actual });
      }
      await this.locks.run(digest, async () => {
        await writer.commit(digest);
        await this.index.recordBlob(repository.id, digest, size);
      });
      await this.forget(id);
      return size;
    });
  }

  /** Abandons an upload and its bytes. Rejects with BlobUploadUnknown when there is none. */
  async cancel(repository: Repository, id: string): Promise<void> {
    return this.exclusive(id, async () => {
      const writer = await this.writer(repository, id);
      await writer.cancel();
      await this.forget(id);
    });
  }

  /** Removes uploads untouched since `cutoff` (ms), and staged bytes no upload row owns. */
  async sweepStale(cutoff: number): Promise<number> {
    const stale = await this.db.selectFrom('uploads').select('id').where('touched_at', '<', cutoff).execute();
    const known = new Set((await this.db.selectFrom('uploads').select('id').execute()).map((row) => row.id));
    let removed = 0;
    for (const { id } of stale) {
      if (this.busy.has(id)) continue;
      await (await this.blobs.upload(id, { create: true })).cancel();
      await this.forget(id);
      removed++;
    }
    for await (const staged of this.blobs.uploads()) {
      if (!known.has(staged.id) && staged.modifiedAt < cutoff && !this.busy.has(staged.id)) {
        await (await this.blobs.upload(staged.id, { create: true })).cancel();
        removed++;
      }
    }
    return removed;
  }

  private async appendTo(writer: UploadWriter, body: AsyncIterable<Uint8Array>, options: AppendOptions): Promise<number> {
    const state = await this.hashState(writer);
    if (options.start !== undefined && options.start !== state.size) {
      throw new RegistryError('RangeInvalid', `chunk starts at ${options.start} but the upload has ${state.size} bytes`, {
        size: state.size,
      });
    }
    let received = 0;
    const hashed = async function* (source: AsyncIterable<Uint8Array>) {
      for await (const chunk of source) {
        received += chunk.length;
        if (options.length !== undefined && received > options.length) {
          throw new RegistryError('SizeInvalid', `chunk is longer than the ${options.length} bytes declared`);
        }
        state.hash.update(chunk);
        yield chunk;
      }
    };
    try {
      const size = await writer.append(hashed(body), options.signal);
      state.size = size;
      if (options.length !== undefined && received !== options.length) {
        throw new RegistryError('SizeInvalid', `chunk has ${received} bytes, ${options.length} were declared`);
      }
      await this.db.updateTable('uploads').set({ touched_at: Date.now() }).where('id', '=', writer.id).execute();
      return size;
    } catch (error) {
      // Some bytes may be staged and hashed, some not: re-hash from storage next time.
      this.hashes.delete(writer.id);
      throw error;
    }
  }

  private async hashState(writer: UploadWriter): Promise<HashState> {
    const size = await writer.size();
    const known = this.hashes.get(writer.id);
    if (known && known.size === size) return known;
    const hash = newHash('sha256');
    for await (const chunk of writer.readBack()) hash.update(chunk as Buffer);
    const state = { size, hash };
    this.hashes.set(writer.id, state);
    return state;
  }

  private async digestOf(writer: UploadWriter, algorithm: 'sha256' | 'sha512', size: number): Promise<Digest> {
    const state = this.hashes.get(writer.id);
    if (algorithm === 'sha256' && state && state.size === size) return `sha256:${state.hash.copy().digest('hex')}`;
    const hash = newHash(algorithm);
    for await (const chunk of writer.readBack()) hash.update(chunk as Buffer);
    return `${algorithm}:${hash.digest('hex')}`;
  }

  private async writer(repository: Repository, id: string): Promise<UploadWriter> {
    const row = await this.db.selectFrom('uploads').select('repository_id').where('id', '=', id).executeTakeFirst();
    if (!row || row.repository_id !== repository.id) throw unknownUpload(id);
    try {
      return await this.blobs.upload(id);
    } catch (error) {
      if (error instanceof UploadNotFound) throw unknownUpload(id);
      throw error;
    }
  }

  private async forget(id: string): Promise<void> {
    this.hashes.delete(id);
    await this.db.deleteFrom('uploads').where('id', '=', id).execute();
  }

  /** One request at a time per upload: interleaved chunks would corrupt it. */
  private async exclusive<T>(id: string, work: () => Promise<T>): Promise<T> {
    if (this.busy.has(id)) throw new RegistryError('BlobUploadInvalid', `upload ${id} is busy with another request`);
    this.busy.add(id);
    try {
      return await work();
    } finally {
      this.busy.delete(id);
    }
  }
}

function unknownUpload(id: string): RegistryError {
  return new RegistryError('BlobUploadUnknown', `upload ${id.slice(0, 128)} is unknown or finished`, { uuid: id.slice(0, 128) });
}
