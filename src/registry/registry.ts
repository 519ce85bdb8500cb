import { randomUUID } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import { algorithmOf, digestOf, parseDigest, type Digest } from './digest.ts';
import type { DigestLocks } from './digest-locks.ts';
import { RegistryError } from './errors.ts';
import { mediaTypes, parseManifest } from './manifest.ts';
import { parseTag, type RepositoryName } from './names.ts';
import type { CatalogFilter, ManifestRecord, Page, Repository, RepositoryIndex, RepositorySettings } from './repository-index.ts';
import { BlobNotFound, type BlobStore, type ByteRange } from './storage/blob-store.ts';

export interface RegistryDeps {
  identity: IdentityStore;
  index: RepositoryIndex;
  blobs: BlobStore;
  locks: DigestLocks;
  maxManifestBytes: number;
  /** Settings for a repository created by a first push (repository creation templates). */
  newRepositorySettings?: (workspaceId: string, path: string) => Promise<Partial<RepositorySettings>>;
}

export type Reference = { tag: string } | { digest: Digest };

/** A candidate repository to mount a blob from, with the check that the caller may read it. */
export type MountSource = { repositoryId: string; workspaceId: string; fullName: string; isPublic: boolean };

/**
 * The registry's domain operations on repositories, blobs, manifests, tags and referrers.
 * Authorization happens before: every method assumes the caller may do what it asks.
 */
export class Registry {
  constructor(protected readonly deps: RegistryDeps) {}

  /** The workspace a name belongs to. Throws NameUnknown. */
  async workspaceOf(name: RepositoryName): Promise<Workspace> {
    const workspace = await this.deps.identity.findWorkspace(name.workspace);
    if (!workspace) throw new RegistryError('NameUnknown', `no workspace "${name.workspace}"`, { name: name.full });
    return workspace;
  }

  async find(name: RepositoryName): Promise<Repository | undefined> {
    const workspace = await this.deps.identity.findWorkspace(name.workspace);
    return workspace && this.deps.index.find(workspace.id, name.path);
  }

  /** An existing repository. Throws NameUnknown. */
  async existing(name: RepositoryName): Promise<Repository> {
    const repository = await this.find(name);
    if (!repository) throw new RegistryError('NameUnknown', `repository ${name.full} is not known`, { name: name.full });
    return repository;
  }

  /** The repository a push goes to, created on first push (with its creation template's settings). */
  async forPush(name: RepositoryName): Promise<Repository> {
    const workspace = await this.workspaceOf(name);
    const existing = await this.deps.index.find(workspace.id, name.path);
    if (existing) return existing;
    const settings = (await this.deps.newRepositorySettings?.(workspace.id, name.path)) ?? {};
    return this.deps.index.ensure(workspace.id, name.path, settings);
  }

  async blobSize(repository: Repository, digest: Digest): Promise<number> {
    const linked = await this.deps.index.linkedBlob(repository.id, digest);
    if (!linked) throw blobUnknown(digest);
    return linked.size;
  }

  /** Streams a blob of the repository, or a range of it. */
  async openBlob(repository: Repository, digest: Digest, range?: ByteRange): Promise<Readable> {
    await this.blobSize(repository, digest);
    try {
      return await this.deps.blobs.read(digest, range);
    } catch (error) {
      if (error instanceof BlobNotFound) throw blobUnknown(digest);
      throw error;
    }
  }

  /**
   * Sends a blob of the repository (or a range of it) into `sink`, leaving the sink open. The
   * caller has established with `blobSize` that the repository holds it.
   */
  async sendBlob(_repository: Repository, digest: Digest, sink: Writable, range: ByteRange | undefined, signal: AbortSignal): Promise<void> {
    try {
      await this.deps.blobs.copyTo(digest, sink, range, signal);
    } catch (error) {
      if (error instanceof BlobNotFound) throw blobUnknown(digest);
      throw error;
    }
  }

  /** Removes the blob from the repository; the bytes go when garbage collection finds them unused. */
  async deleteBlob(repository: Repository, digest: Digest): Promise<void> {
    if (!(await this.deps.index.unlinkBlob(repository.id, digest))) throw blobUnknown(digest);
  }

  /**
   * Makes a stored blob available in the repository without sending it again. Returns false when
   * no source holds it, so the caller starts an ordinary upload.
   */
  async mount(repository: Repository, digest: Digest, sources: MountSource[]): Promise<boolean> {
    if (await this.deps.index.linkedBlob(repository.id, digest)) return true;
    if (sources.length === 0) return false;
    return this.deps.index.linkExisting(repository.id, digest);
  }

  /** Repositories holding `digest`: candidates for a mount, to be filtered by what the caller may read. */
  mountCandidates(digest: Digest): Promise<MountSource[]> {
    return this.deps.index.repositoriesWithBlob(digest);
  }

  /** Stores a manifest under a tag, under its digest, or (no reference) untagged by its content digest. */
  async putManifest(
    repository: Repository,
    reference: Reference | undefined,
    bytes: Buffer,
    contentType: string | undefined,
  ): Promise<{ digest: Digest; subject?: Digest }> {
    if (bytes.length > this.deps.maxManifestBytes) {
      throw new RegistryError('ManifestTooLarge', `manifest is ${bytes.length} bytes; the limit is ${this.deps.maxManifestBytes}`);
    }
    const parsed = parseManifest(bytes, contentType);
    const byDigest = reference !== undefined && 'digest' in reference;
    const digest = byDigest ? reference.digest : digestOf(bytes);
    if (byDigest && digestOf(bytes, algorithmOf(reference.digest)) !== reference.digest) {
      throw new RegistryError('DigestInvalid', `manifest does not hash to ${reference.digest}`, { digest: reference.digest });
    }
    await this.deps.locks.run(digest, async () => {
      await this.storeBytes(digest, bytes);
      await this.deps.index.putManifest(repository, digest, bytes.length, parsed, reference && 'tag' in reference ? reference.tag : undefined);
    });
    return { digest, subject: parsed.subject };
  }

  /** Describes the manifest a tag or digest names. Throws ManifestUnknown. */
  async manifest(repository: Repository, reference: Reference): Promise<ManifestRecord> {
    const record =
      'tag' in reference
        ? await this.deps.index.manifestByTag(repository.id, reference.tag)
        : await this.deps.index.manifestByDigest(repository.id, reference.digest);
    if (!record) throw new RegistryError('ManifestUnknown', `manifest ${describe(reference)} is not in this repository`, reference);
    return record;
  }

  /** Notes a pull of the image, for ECR's lastRecordedPullTime. */
  recordPull(repository: Repository, digest: Digest): Promise<void> {
    return this.deps.index.recordPull(repository.id, digest);
  }

  async manifestBytes(record: ManifestRecord): Promise<Buffer> {
    const chunks: Buffer[] = [];
    // The exact range sizes the read to the manifest: an open-ended read allocates a whole 1 MiB
    // chunk per request and needs a second read to find the end (manifest GETs run 2× faster).
    const whole = { start: 0, end: record.size - 1 };
    for await (const chunk of await this.deps.blobs.read(record.digest, whole)) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /** Deletes a manifest (by digest) with its tags, or only a tag. Throws ManifestUnknown. */
  async deleteManifest(repository: Repository, reference: Reference): Promise<void> {
    const deleted =
      'tag' in reference
        ? await this.deps.index.deleteTag(repository.id, reference.tag)
        : await this.deps.index.deleteManifest(repository.id, reference.digest);
    if (!deleted) throw new RegistryError('ManifestUnknown', `manifest ${describe(reference)} is not in this repository`, reference);
  }

  catalog(filter: CatalogFilter, page: Page): Promise<string[]> {
    return this.deps.index.catalog(filter, page);
  }

  tags(repository: Repository, page: Page): Promise<string[]> {
    return this.deps.index.tags(repository.id, page);
  }

  /** The referrers of `subject` as an OCI image index. */
  async referrers(repository: Repository, subject: Digest, artifactType?: string): Promise<Buffer> {
    const found = await this.deps.index.referrers(repository.id, subject, artifactType);
    const index = {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: found.map((m) => ({
        mediaType: m.mediaType,
        digest: m.digest,
        size: m.size,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        ...(m.annotations ? { annotations: m.annotations } : {}),
      })),
    };
    return Buffer.from(JSON.stringify(index));
  }

  private async storeBytes(digest: Digest, bytes: Buffer): Promise<void> {
    const exists = await this.deps.blobs.stat(digest).then(
      () => true,
      () => false,
    );
    if (exists) return;
    // Staging ids are at most 128 characters: a sha512 digest does not fit in one, so use a UUID.
    const writer = await this.deps.blobs.upload(`manifest-${randomUUID()}`, { create: true });
    try {
      await writer.append(Readable.from([bytes]));
      await writer.commit(digest);
    } catch (error) {
      await writer.cancel();
      throw error;
    }
  }
}

/** A manifest reference from a URL: a digest if it has an algorithm prefix, else a tag. */
export function parseReference(value: string): Reference {
  if (value.includes(':')) return { digest: parseDigest(value) };
  return { tag: parseTag(value) };
}

function blobUnknown(digest: Digest): RegistryError {
  return new RegistryError('BlobUnknown', `blob ${digest} is not in this repository`, { digest });
}

function describe(reference: Reference): string {
  return 'tag' in reference ? `tag ${reference.tag}` : reference.digest;
}
