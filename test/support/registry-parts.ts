import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { IdentityStore, type User } from '../../src/identity/identity-store.ts';
import { digestOf, type Digest } from '../../src/registry/digest.ts';
import { DigestLocks } from '../../src/registry/digest-locks.ts';
import { GarbageCollector } from '../../src/registry/garbage-collector.ts';
import { mediaTypes } from '../../src/registry/manifest.ts';
import { parseRepositoryName } from '../../src/registry/names.ts';
import { Registry } from '../../src/registry/registry.ts';
import { RepositoryIndex, type Repository } from '../../src/registry/repository-index.ts';
import { FsBlobStore } from '../../src/registry/storage/fs-blob-store.ts';
import { Uploads } from '../../src/registry/uploads.ts';
import { after, before } from 'node:test';
import type { TestDatabase } from './databases.ts';

/** The registry's domain parts wired as compose.ts wires them, over a given database, without HTTP. */
export interface RegistryParts {
  identity: IdentityStore;
  index: RepositoryIndex;
  blobs: FsBlobStore;
  uploads: Uploads;
  registry: Registry;
  gc: GarbageCollector;
  owner: User;
  /** The repository `<owner>/<path>`, created on first use. */
  repository(path: string): Promise<Repository>;
  /** Uploads bytes as a blob of the repository. */
  pushBlob(repository: Repository, bytes: Buffer): Promise<Digest>;
  /** Pushes an image manifest over the given blobs (first is the config), tagged. */
  pushImage(repository: Repository, blobs: Digest[], tag: string): Promise<Digest>;
  cleanup(): Promise<void>;
}

export async function registryParts(database: TestDatabase): Promise<RegistryParts> {
  const root = await mkdtemp(join(tmpdir(), 'berth-registry-'));
  const db = database.opened.db;
  const identity = new IdentityStore(db);
  const blobs = await FsBlobStore.open({ root });
  const index = new RepositoryIndex(db, database.opened.kind);
  const locks = new DigestLocks();
  const uploads = new Uploads(db, blobs, index, locks);
  const registry = new Registry({ identity, index, blobs, locks, maxManifestBytes: 4 * 1024 * 1024 });
  const gc = new GarbageCollector(db, blobs, uploads, locks);
  const owner = await identity.createUser({ name: `owner${Math.random().toString(36).slice(2, 8)}` });
  return {
    identity,
    index,
    blobs,
    uploads,
    registry,
    gc,
    owner,
    repository: (path) => registry.forPush(parseRepositoryName(`${owner.name}/${path}`)),
    async pushBlob(repository, bytes) {
      const digest = digestOf(bytes);
      const id = await uploads.start(repository);
      await uploads.complete(repository, id, digest, Readable.from([bytes]));
      return digest;
    },
    async pushImage(repository, [config, ...layers], tag) {
      const describe = async (digest: Digest, mediaType: string) => ({ mediaType, digest, size: await registry.blobSize(repository, digest) });
      const manifest = {
        schemaVersion: 2,
        mediaType: mediaTypes.ociManifest,
        config: await describe(config!, 'application/vnd.oci.image.config.v1+json'),
        layers: await Promise.all(layers.map((l) => describe(l, 'application/vnd.oci.image.layer.v1.tar'))),
      };
      const { digest } = await registry.putManifest(repository, { tag }, Buffer.from(JSON.stringify(manifest)), mediaTypes.ociManifest);
      return digest;
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/**
 * Registers before/after hooks in the current suite that open a fresh database with the registry
 * parts over it; the returned object gives access to them inside tests.
 */
export function useRegistryParts(open: () => Promise<TestDatabase>): { parts: RegistryParts; database: TestDatabase } {
  const holder = {} as { parts: RegistryParts; database: TestDatabase };
  before(async () => {
    holder.database = await open();
    holder.parts = await registryParts(holder.database);
  });
  after(async () => {
    await holder.parts.cleanup();
    await holder.database.cleanup();
  });
  return holder;
}
