import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import type { AugmentDeps } from '../../../src/builder/augment/augment-image.ts';
import { IdentityStore, type User } from '../../../src/identity/identity-store.ts';
import { RegistryAccess } from '../../../src/registry/auth/access.ts';
import type { Digest } from '../../../src/registry/digest.ts';
import { DigestLocks } from '../../../src/registry/digest-locks.ts';
import { Policies } from '../../../src/registry/management/policies.ts';
import { parseRepositoryName } from '../../../src/registry/names.ts';
import { Registry } from '../../../src/registry/registry.ts';
import { RepositoryIndex, type Repository } from '../../../src/registry/repository-index.ts';
import type { BlobStore, ByteRange, UploadWriter } from '../../../src/registry/storage/blob-store.ts';
import { FsBlobStore } from '../../../src/registry/storage/fs-blob-store.ts';
import { Uploads } from '../../../src/registry/uploads.ts';
import type { TestDatabase } from '../../support/databases.ts';
import type { GeneratedLayout } from '../../support/oci-image.ts';

/**
 * The real BlobStore, decorated to count the bytes read from each committed blob (`read` and
 * `copyTo`): how the tests prove that augmentation never touches a base layer.
 */
export class ReadCountingBlobStore implements BlobStore {
  readonly bytesRead = new Map<Digest, number>();

  constructor(private readonly inner: BlobStore) {}

  reset(): void {
    this.bytesRead.clear();
  }

  stat(digest: Digest) {
    return this.inner.stat(digest);
  }

  async read(digest: Digest, range?: ByteRange): Promise<Readable> {
    return (await this.inner.read(digest, range)).pipe(this.counter(digest));
  }

  async copyTo(digest: Digest, sink: Writable, range?: ByteRange, signal?: AbortSignal): Promise<void> {
    const size = range ? range.end - range.start + 1 : (await this.inner.stat(digest)).size;
    await this.inner.copyTo(digest, sink, range, signal);
    this.bytesRead.set(digest, (this.bytesRead.get(digest) ?? 0) + size);
  }

  delete(digest: Digest) {
    return this.inner.delete(digest);
  }

  list() {
    return this.inner.list();
  }

  upload(id: string, options?: { create?: boolean }): Promise<UploadWriter> {
    return this.inner.upload(id, options);
  }

  uploads() {
    return this.inner.uploads();
  }

  private counter(digest: Digest): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, done) => {
        this.bytesRead.set(digest, (this.bytesRead.get(digest) ?? 0) + chunk.length);
        done(null, chunk);
      },
    });
  }
}

/** The registry's domain parts as compose-registry.ts wires them (without pull-through), over a counting blob store. */
export interface AugmentParts {
  deps: AugmentDeps;
  identity: IdentityStore;
  blobs: ReadCountingBlobStore;
  admin: User;
  /** Uploads one blob of a generated OCI layout into the repository. */
  pushBlobFromLayout(repository: Repository, layout: GeneratedLayout, digest: string): Promise<void>;
  /** Pushes a generated OCI layout's blobs and manifests into `ws/path`, tagged, and returns the repository. */
  pushLayout(fullName: string, layout: GeneratedLayout, tag: string): Promise<Repository>;
  /** Every row of the registry's tables and every stored blob and staged upload: what "nothing changed" compares. */
  snapshot(): Promise<unknown>;
  cleanup(): Promise<void>;
}

export async function augmentParts(database: TestDatabase, now = () => new Date('2025-06-01T00:00:00Z')): Promise<AugmentParts> {
  const root = await mkdtemp(join(tmpdir(), 'berth-augment-'));
  const db = database.opened.db;
  const identity = new IdentityStore(db);
  const blobs = new ReadCountingBlobStore(await FsBlobStore.open({ root }));
  const index = new RepositoryIndex(db, database.opened.kind);
  const locks = new DigestLocks();
  const uploads = new Uploads(db, blobs, index, locks);
  const registry = new Registry({ identity, index, blobs, locks, maxManifestBytes: 4 * 1024 * 1024 });
  const access = new RegistryAccess(identity, index, new Policies(db, index), 'eu-west-2');
  const admin = await identity.createUser({ name: 'boss', isAdmin: true });

  const pushBlob = async (repository: Repository, layoutDir: string, digest: string) => {
    const id = await uploads.start(repository);
    await uploads.complete(repository, id, digest as Digest, createReadStream(join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length))));
  };
  const manifestBytes = (layoutDir: string, digest: string) => readFile(join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length)));

  return {
    deps: { registry, uploads, index, access, now },
    identity,
    blobs,
    admin,
    pushBlobFromLayout: (repository, layout, digest) => pushBlob(repository, layout.dir, digest),
    async pushLayout(fullName, layout, tag) {
      const repository = await registry.forPush(parseRepositoryName(fullName));
      for (const image of layout.images) {
        for (const blob of [image.config, ...image.layers]) await pushBlob(repository, layout.dir, blob.digest);
        const reference = layout.images.length === 1 ? { tag } : undefined;
        await registry.putManifest(repository, reference, await manifestBytes(layout.dir, image.manifest.digest), image.manifest.mediaType);
      }
      if (layout.images.length > 1) await registry.putManifest(repository, { tag }, await manifestBytes(layout.dir, layout.top.digest), layout.top.mediaType);
      return repository;
    },
    async snapshot() {
      const tables = ['repositories', 'repository_blobs', 'blobs', 'manifests', 'manifest_refs', 'tags', 'uploads'] as const;
      const rows: Record<string, unknown> = {};
      for (const table of tables) rows[table] = (await db.selectFrom(table).selectAll().execute()).map((row) => JSON.stringify(row)).sort();
      const stored: string[] = [];
      for await (const digest of blobs.list()) stored.push(digest);
      const staged: string[] = [];
      for await (const upload of blobs.uploads()) staged.push(upload.id);
      return { rows, stored: stored.sort(), staged: staged.sort() };
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}
