import type { Db } from '../../db/database.ts';
import type { Digest } from '../digest.ts';
import { RegistryError } from '../errors.ts';
import type { Repository, RepositoryIndex } from '../repository-index.ts';

/** An image as ECR names one: by digest, by tag, or both. */
export interface ImageId {
  imageDigest?: string;
  imageTag?: string;
}

export interface ImageDetail {
  digest: Digest;
  tags: string[];
  mediaType: string;
  /** The config media type of an image manifest (ECR's artifactMediaType). */
  artifactType: string | null;
  /** Config and layers, compressed, as stored. */
  sizeInBytes: number;
  pushedAt: number;
  lastPulledAt: number | null;
  scanRequestedAt: number | null;
}

export type TagStatus = 'TAGGED' | 'UNTAGGED' | 'ANY';

export interface ImageFailure {
  imageId: ImageId;
  failureCode: 'ImageNotFound' | 'ImageTagDoesNotMatchDigest' | 'InvalidImageDigest' | 'InvalidImageTag' | 'MissingDigestAndTag';
  failureReason: string;
}

/**
 * The images of a repository as the management API sees them: manifests with their tags, sizes
 * and times; resolving ECR image ids; deleting by tag or digest with ECR's rules.
 */
export class ImageCatalog {
  constructor(
    private readonly db: Db,
    private readonly index: RepositoryIndex,
  ) {}

  /** Every image of the repository, newest first. */
  async details(repository: Repository, tagStatus: TagStatus = 'ANY'): Promise<ImageDetail[]> {
    const manifests = await this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'artifact_type', 'pushed_at', 'last_pulled_at', 'scan_requested_at', 'size'])
      .where('repository_id', '=', repository.id)
      .orderBy('pushed_at', 'desc')
      .orderBy('digest')
      .execute();
    const tags = await this.db.selectFrom('tags').select(['name', 'manifest_digest']).where('repository_id', '=', repository.id).orderBy('name').execute();
    const sizes = await this.db
      .selectFrom('manifest_refs')
      .innerJoin('blobs', 'blobs.digest', 'manifest_refs.digest')
      .select(['manifest_refs.manifest_digest', (eb) => eb.fn.sum<number>('blobs.size').as('total')])
      .where('manifest_refs.repository_id', '=', repository.id)
      .groupBy('manifest_refs.manifest_digest')
      .execute();
    const tagsOf = groupBy(tags, (t) => t.manifest_digest, (t) => t.name);
    const sizeOf = new Map(sizes.map((s) => [s.manifest_digest, Number(s.total)]));
    return manifests
      .map((m) => ({
        digest: m.digest as Digest,
        tags: tagsOf.get(m.digest) ?? [],
        mediaType: m.media_type,
        artifactType: m.artifact_type,
        sizeInBytes: sizeOf.get(m.digest) ?? m.size,
        pushedAt: m.pushed_at,
        lastPulledAt: m.last_pulled_at,
        scanRequestedAt: m.scan_requested_at,
      }))
      .filter((image) => tagStatus === 'ANY' || (tagStatus === 'TAGGED') === image.tags.length > 0);
  }

  /** Digests of manifests that an index in the same repository lists: they live and die with it. */
  async childManifests(repository: Repository): Promise<Set<string>> {
    const rows = await this.db
      .selectFrom('manifest_refs')
      .innerJoin('manifests', (join) => join.onRef('manifests.repository_id', '=', 'manifest_refs.repository_id').onRef('manifests.digest', '=', 'manifest_refs.digest'))
      .select('manifest_refs.digest')
      .where('manifest_refs.repository_id', '=', repository.id)
      .execute();
    return new Set(rows.map((row) => row.digest));
  }

  /** The image an id names, or a failure saying why not. */
  async resolve(repository: Repository, id: ImageId): Promise<{ digest: Digest; tag?: string } | ImageFailure> {
    if (!id.imageDigest && !id.imageTag) return failure(id, 'MissingDigestAndTag', 'Invalid request parameters: both tag and digest cannot be null');
    const byTag = id.imageTag ? await this.index.manifestByTag(repository.id, id.imageTag) : undefined;
    if (id.imageTag && !byTag) return failure(id, 'ImageNotFound', 'Requested image not found');
    if (id.imageDigest) {
      if (byTag && byTag.digest !== id.imageDigest) return failure(id, 'ImageTagDoesNotMatchDigest', 'Invalid request parameters: image tag does not match digest');
      const byDigest = await this.index.manifestByDigest(repository.id, id.imageDigest as Digest);
      if (!byDigest) return failure(id, 'ImageNotFound', 'Requested image not found');
    }
    return { digest: (byTag?.digest ?? id.imageDigest) as Digest, tag: id.imageTag };
  }

  /** Details of the given images; ImageNotFound naming the first that does not exist. */
  async describe(repository: Repository, ids: ImageId[]): Promise<ImageDetail[]> {
    const all = await this.details(repository);
    const found: ImageDetail[] = [];
    for (const id of ids) {
      const resolved = await this.resolve(repository, id);
      if ('failureCode' in resolved) throw new RegistryError('ImageNotFound', `The image with imageId ${describeId(id)} does not exist within the repository specified.`);
      const detail = all.find((image) => image.digest === resolved.digest)!;
      if (!found.includes(detail)) found.push(detail);
    }
    return found;
  }

  /**
   * Deletes images as ECR does: a digest deletes the image and all its tags; a tag removes that
   * tag, and the image too when it was its last tag.
   */
  async delete(repository: Repository, ids: ImageId[]): Promise<{ deleted: ImageId[]; failures: ImageFailure[] }> {
    const deleted: ImageId[] = [];
    const failures: ImageFailure[] = [];
    for (const id of ids) {
      const resolved = await this.resolve(repository, id);
      if ('failureCode' in resolved) {
        failures.push(resolved);
        continue;
      }
      if (id.imageTag && !id.imageDigest) {
        await this.index.deleteTag(repository.id, id.imageTag);
        const remaining = await this.db.selectFrom('tags').select('name').where('repository_id', '=', repository.id).where('manifest_digest', '=', resolved.digest).executeTakeFirst();
        if (!remaining) await this.index.deleteManifest(repository.id, resolved.digest);
      } else {
        await this.index.deleteManifest(repository.id, resolved.digest);
      }
      deleted.push({ imageDigest: resolved.digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) });
    }
    return { deleted, failures };
  }
}

function failure(imageId: ImageId, failureCode: ImageFailure['failureCode'], failureReason: string): ImageFailure {
  return { imageId, failureCode, failureReason };
}

export function describeId(id: ImageId): string {
  return `{${[id.imageDigest && `imageDigest:'${id.imageDigest}'`, id.imageTag && `imageTag:'${id.imageTag}'`].filter(Boolean).join(', ')}}`;
}

function groupBy<T, V>(items: T[], key: (item: T) => string, value: (item: T) => V): Map<string, V[]> {
  const groups = new Map<string, V[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k) ?? [];
    list.push(value(item));
    groups.set(k, list);
  }
  return groups;
}
