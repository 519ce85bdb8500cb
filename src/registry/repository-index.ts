import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Db, DbKind } from '../db/database.ts';
import { isUniqueViolation } from '../db/database.ts';
import type { Database } from '../db/schema.ts';
import type { Digest } from './digest.ts';
import { isRegistryError, RegistryError } from './errors.ts';
import { defaultRepositorySettings, type Repository, type RepositorySettings } from './repository.ts';
import { link, missingFrom, requireTagFree, toColumns, toRepository, upsertBlob } from './repository-rows.ts';
import type { ParsedManifest } from './manifest.ts';

export { defaultRepositorySettings, type Repository, type RepositorySettings } from './repository.ts';

export interface ManifestRecord {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface ReferrerRecord extends ManifestRecord {
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

export interface Page {
  n?: number;
  last?: string;
}

/** Who may see which repositories in the catalog. */
export type CatalogFilter = { everything: true } | { workspaceIds: string[]; includePublic: boolean };

/**
 * The registry's metadata in the database: repositories, which blobs each may serve, manifests,
 * tags and referrers. Blob bytes are in the BlobStore; this index says what they mean.
 */
export class RepositoryIndex {
  constructor(
    private readonly db: Db,
    private readonly kind: DbKind,
  ) {}

  async find(workspaceId: string, name: string): Promise<Repository | undefined> {
    const row = await this.db
      .selectFrom('repositories')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row && toRepository(row);
  }

  /** The repository, created with `settings` when missing. Safe against concurrent creation. */
  async ensure(workspaceId: string, name: string, settings: Partial<RepositorySettings> = {}): Promise<Repository> {
    const existing = await this.find(workspaceId, name);
    if (existing) return existing;
    try {
      return await this.create(workspaceId, name, settings);
    } catch (error) {
      if (!isRegistryError(error, 'RepositoryAlreadyExists')) throw error;
      return (await this.find(workspaceId, name))!;
    }
  }

  /** Creates a repository; RepositoryAlreadyExists when the name is taken. */
  async create(workspaceId: string, name: string, settings: Partial<RepositorySettings> = {}): Promise<Repository> {
    const repository: Repository = { ...defaultRepositorySettings, ...settings, id: randomUUID(), workspaceId, name, isPublic: false, createdAt: Date.now() };
    try {
      await this.db
        .insertInto('repositories')
        .values({ id: repository.id, workspace_id: workspaceId, name, is_public: 0, created_at: repository.createdAt, ...toColumns(repository) })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new RegistryError('RepositoryAlreadyExists', `repository ${name} already exists`, { name });
      throw error;
    }
    return repository;
  }

  /** Changes settings of a repository. */
  async update(repositoryId: string, settings: Partial<RepositorySettings>): Promise<void> {
    const columns = toColumns(settings);
    if (Object.keys(columns).length) await this.db.updateTable('repositories').set(columns).where('id', '=', repositoryId).execute();
  }

  /** Deletes a repository with its manifests, tags and blob links (blobs go at the next GC). */
  async delete(repositoryId: string): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      for (const table of ['tags', 'manifest_refs', 'manifests', 'repository_blobs', 'uploads'] as const) {
        await tx.deleteFrom(table).where('repository_id', '=', repositoryId).execute();
      }
      await tx.deleteFrom('repositories').where('id', '=', repositoryId).execute();
    });
  }

  /** Repositories of a workspace in name order, after `last`, at most `n`. */
  async list(workspaceId: string, page: Page): Promise<Repository[]> {
    let query = this.db.selectFrom('repositories').selectAll().where('workspace_id', '=', workspaceId).orderBy('name');
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    if (page.n !== undefined) query = query.limit(page.n);
    return (await query.execute()).map(toRepository);
  }

  async setPublic(repositoryId: string, isPublic: boolean): Promise<void> {
    await this.db.updateTable('repositories').set({ is_public: isPublic ? 1 : 0 }).where('id', '=', repositoryId).execute();
  }

  /** Whether the repository holds any manifest. */
  async hasImages(repositoryId: string): Promise<boolean> {
    return !!(await this.db.selectFrom('manifests').select('digest').where('repository_id', '=', repositoryId).limit(1).executeTakeFirst());
  }

  /** Full names (`<workspace>/<path>`) in lexical order, after `last`, at most `n`. */
  async catalog(filter: CatalogFilter, page: Page): Promise<string[]> {
    const fullName = this.bytewise(sql<string>`workspaces.slug || '/' || repositories.name`);
    let query = this.db
      .selectFrom('repositories')
      .innerJoin('workspaces', 'workspaces.id', 'repositories.workspace_id')
      .select(fullName.as('full_name'))
      .orderBy(fullName);
    if (!('everything' in filter)) {
      const { workspaceIds, includePublic } = filter;
      query = query.where((eb) =>
        eb.or([
          ...(workspaceIds.length ? [eb('repositories.workspace_id', 'in', workspaceIds)] : []),
          ...(includePublic ? [eb('repositories.is_public', '=', 1)] : []),
          eb.lit(false), // a literal: SQLite cannot bind a boolean parameter
        ]),
      );
    }
    if (page.last !== undefined) query = query.where(fullName, '>', page.last);
    if (page.n !== undefined) query = query.limit(page.n);
    return (await query.execute()).map((row) => row.full_name);
  }

  /** Size of `digest` when the repository may serve it, else undefined. */
  async linkedBlob(repositoryId: string, digest: Digest): Promise<{ size: number } | undefined> {
    return this.db
      .selectFrom('repository_blobs')
      .innerJoin('blobs', 'blobs.digest', 'repository_blobs.digest')
      .select('blobs.size')
      .where('repository_blobs.repository_id', '=', repositoryId)
      .where('repository_blobs.digest', '=', digest)
      .executeTakeFirst();
  }

  /** Repositories that hold `digest`, to choose a mount source from. */
  async repositoriesWithBlob(digest: Digest): Promise<Array<{ repositoryId: string; workspaceId: string; fullName: string; isPublic: boolean }>> {
    const rows = await this.db
      .selectFrom('repository_blobs')
      .innerJoin('repositories', 'repositories.id', 'repository_blobs.repository_id')
      .innerJoin('workspaces', 'workspaces.id', 'repositories.workspace_id')
      .select(['repositories.id', 'repositories.workspace_id', 'repositories.is_public', 'repositories.name', 'workspaces.slug'])
      .where('repository_blobs.digest', '=', digest)
      .execute();
    return rows.map((row) => ({
      repositoryId: row.id,
      workspaceId: row.workspace_id,
      fullName: `${row.slug}/${row.name}`,
      isPublic: row.is_public === 1,
    }));
  }

  /** Records stored bytes as blob `digest` and lets the repository serve it. */
  async recordBlob(repositoryId: string | null, digest: Digest, size: number): Promise<void> {
    await this.db.transaction().execute(async (tx) => {
      await upsertBlob(tx, digest, size);
      if (repositoryId) await link(tx, repositoryId, digest);
    });
  }

  /**
   * Lets the repository serve a blob that is already stored (a cross-repository mount). Returns
   * false when the blob is gone (collected meanwhile): the caller falls back to an upload.
   */
  async linkExisting(repositoryId: string, digest: Digest): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      const touched = await tx.updateTable('blobs').set({ touched_at: Date.now() }).where('digest', '=', digest).executeTakeFirst();
      if (Number(touched.numUpdatedRows) === 0) return false;
      await link(tx, repositoryId, digest);
      return true;
    });
  }

  /** Stops the repository from serving `digest`. Returns false when it did not. */
  async unlinkBlob(repositoryId: string, digest: Digest): Promise<boolean> {
    const result = await this.db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /**
   * Records a manifest whose bytes are already stored, after checking (in the same transaction)
   * that everything it references is in the repository, unless the repository caches an upstream
   * (its blobs arrive on first pull); optionally points `tag` at it, unless the repository's tags
   * are immutable and the tag already names another image.
   */
  async putManifest(repository: Repository, digest: Digest, size: number, parsed: ParsedManifest, tag?: string): Promise<void> {
    const now = Date.now();
    const repositoryId = repository.id;
    await this.db.transaction().execute(async (tx) => {
      if (!repository.upstreamRuleId) await this.requireReferences(tx, repositoryId, parsed);
      // A cache follows its upstream's tags; pushes into it are refused before they get here.
      if (tag !== undefined && repository.imageTagMutability === 'IMMUTABLE' && !repository.upstreamRuleId) await requireTagFree(tx, repository, tag, digest);
      await upsertBlob(tx, digest, size);
      await tx
        .insertInto('manifests')
        .values({
          repository_id: repositoryId,
          digest,
          media_type: parsed.mediaType,
          size,
          artifact_type: parsed.artifactType ?? null,
          subject_digest: parsed.subject ?? null,
          annotations: parsed.annotations ? JSON.stringify(parsed.annotations) : null,
          pushed_at: now,
          scan_requested_at: repository.scanOnPush ? now : null,
        })
        .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
        .execute();
      const refs = [...parsed.blobs, ...parsed.manifests];
      if (refs.length) {
        await tx
          .insertInto('manifest_refs')
          .values(refs.map((ref) => ({ repository_id: repositoryId, manifest_digest: digest, digest: ref })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      if (tag !== undefined) {
        await tx
          .insertInto('tags')
          .values({ repository_id: repositoryId, name: tag, manifest_digest: digest, updated_at: now, upstream_checked_at: repository.upstreamRuleId ? now : null })
          .onConflict((oc) =>
            oc.columns(['repository_id', 'name']).doUpdateSet({ manifest_digest: digest, updated_at: now, upstream_checked_at: repository.upstreamRuleId ? now : null }),
          )
          .execute();
      }
    });
  }

  async manifestByDigest(repositoryId: string, digest: Digest): Promise<ManifestRecord | undefined> {
    const row = await this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size'])
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .executeTakeFirst();
    return row && { digest: row.digest as Digest, mediaType: row.media_type, size: row.size };
  }

  async manifestByTag(repositoryId: string, tag: string): Promise<ManifestRecord | undefined> {
    const row = await this.db
      .selectFrom('tags')
      .innerJoin('manifests', (join) =>
        join.onRef('manifests.repository_id', '=', 'tags.repository_id').onRef('manifests.digest', '=', 'tags.manifest_digest'),
      )
      .select(['manifests.digest', 'manifests.media_type', 'manifests.size'])
      .where('tags.repository_id', '=', repositoryId)
      .where('tags.name', '=', tag)
      .executeTakeFirst();
    return row && { digest: row.digest as Digest, mediaType: row.media_type, size: row.size };
  }

  /** Records that an image was pulled (ECR's lastRecordedPullTime), at most once a minute per image. */
  async recordPull(repositoryId: string, digest: Digest): Promise<void> {
    const now = Date.now();
    await this.db
      .updateTable('manifests')
      .set({ last_pulled_at: now })
      .where('repository_id', '=', repositoryId)
      .where('digest', '=', digest)
      .where((eb) => eb.or([eb('last_pulled_at', 'is', null), eb('last_pulled_at', '<', now - 60_000)]))
      .execute();
  }

  /** Deletes a manifest and every tag pointing at it. Returns false when there was none. */
  async deleteManifest(repositoryId: string, digest: Digest): Promise<boolean> {
    return this.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('tags').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute();
      await tx.deleteFrom('manifest_refs').where('repository_id', '=', repositoryId).where('manifest_digest', '=', digest).execute();
      const result = await tx.deleteFrom('manifests').where('repository_id', '=', repositoryId).where('digest', '=', digest).executeTakeFirst();
      return Number(result.numDeletedRows) > 0;
    });
  }

  /** When the upstream was last asked about a cached tag (ms), or undefined for an unknown tag. */
  async tagCheckedAt(repositoryId: string, tag: string): Promise<number | null | undefined> {
    const row = await this.db.selectFrom('tags').select('upstream_checked_at').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
    return row ? row.upstream_checked_at : undefined;
  }

  async markTagChecked(repositoryId: string, tag: string): Promise<void> {
    await this.db.updateTable('tags').set({ upstream_checked_at: Date.now() }).where('repository_id', '=', repositoryId).where('name', '=', tag).execute();
  }

  /** Removes one tag; the manifest stays. Returns false when there was no such tag. */
  async deleteTag(repositoryId: string, tag: string): Promise<boolean> {
    const result = await this.db.deleteFrom('tags').where('repository_id', '=', repositoryId).where('name', '=', tag).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async tags(repositoryId: string, page: Page): Promise<string[]> {
    let query = this.db.selectFrom('tags').select('name').where('repository_id', '=', repositoryId).orderBy('name');
    if (page.last !== undefined) query = query.where('name', '>', page.last);
    if (page.n !== undefined) query = query.limit(page.n);
    return (await query.execute()).map((row) => row.name);
  }

  /** Manifests whose subject is `subject`, optionally only those of one artifact type. */
  async referrers(repositoryId: string, subject: Digest, artifactType?: string): Promise<ReferrerRecord[]> {
    let query = this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size', 'artifact_type', 'annotations'])
      .where('repository_id', '=', repositoryId)
      .where('subject_digest', '=', subject)
      .orderBy('pushed_at')
      .orderBy('digest');
    if (artifactType !== undefined) query = query.where('artifact_type', '=', artifactType);
    const rows = await query.execute();
    return rows.map((row) => ({
      digest: row.digest as Digest,
      mediaType: row.media_type,
      size: row.size,
      artifactType: row.artifact_type,
      annotations: row.annotations ? (JSON.parse(row.annotations) as Record<string, string>) : null,
    }));
  }

  private async requireReferences(tx: Transaction<Database>, repositoryId: string, parsed: ParsedManifest): Promise<void> {
    if (parsed.blobs.length) {
      // Touch first: in PostgreSQL this takes the blob rows' locks, so a concurrent garbage
      // collection either waits for us or has already removed the row (and we refuse).
      await tx.updateTable('blobs').set({ touched_at: Date.now() }).where('digest', 'in', parsed.blobs).execute();
      const linked = await tx
        .selectFrom('repository_blobs')
        .select('digest')
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', parsed.blobs)
        .execute();
      const missing = missingFrom(parsed.blobs, linked);
      if (missing) throw new RegistryError('ManifestBlobUnknown', `blob ${missing} is not in this repository`, { digest: missing });
    }
    if (parsed.manifests.length) {
      const present = await tx
        .selectFrom('manifests')
        .select('digest')
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', parsed.manifests)
        .execute();
      const missing = missingFrom(parsed.manifests, present);
      if (missing) throw new RegistryError('ManifestBlobUnknown', `manifest ${missing} is not in this repository`, { digest: missing });
    }
  }

  private bytewise<T>(expression: ReturnType<typeof sql<T>>) {
    return this.kind === 'postgres' ? sql<T>`(${expression}) collate "C"` : expression;
  }
}
