import { sql } from 'kysely';
import type { Db } from '../db/database.ts';
import type { Digest } from './digest.ts';
import type { DigestLocks } from './digest-locks.ts';
import type { BlobStore } from './storage/blob-store.ts';
import type { Uploads } from './uploads.ts';

export interface GcReport {
  deletedBlobs: number;
  freedBytes: number;
  orphanFiles: number;
  staleUploads: number;
  dryRun: boolean;
}

/**
 * Mark and sweep: a blob is kept while a manifest references it (as config, layer or child) or
 * is it, and while it was written or linked within the grace period, so that a push in progress,
 * whose layers are uploaded before its manifest, never loses them. Each deletion re-checks its
 * condition in the database and holds the digest's lock, so it cannot race a commit of the same
 * digest. Files that no database row knows (a crash between commit and record) are removed too.
 */
export class GarbageCollector {
  constructor(
    private readonly db: Db,
    private readonly blobs: BlobStore,
    private readonly uploads: Uploads,
    private readonly locks: DigestLocks,
  ) {}

  async collect(options: { graceMs: number; uploadExpiryMs: number; dryRun?: boolean }): Promise<GcReport> {
    const dryRun = options.dryRun ?? false;
    const cutoff = Date.now() - options.graceMs;
    const report: GcReport = { deletedBlobs: 0, freedBytes: 0, orphanFiles: 0, staleUploads: 0, dryRun };
    for (const candidate of await this.unreferenced(cutoff)) {
      const digest = candidate.digest as Digest;
      const deleted = await this.locks.run(digest, async () => {
        if (dryRun) return true;
        if (!(await this.deleteRowIfUnreferenced(digest, cutoff))) return false;
        await this.blobs.delete(digest);
        return true;
      });
      if (deleted) {
        report.deletedBlobs++;
        report.freedBytes += candidate.size;
      }
    }
    report.orphanFiles = await this.removeOrphanFiles(dryRun);
    if (!dryRun) report.staleUploads = await this.uploads.sweepStale(Date.now() - options.uploadExpiryMs);
    return report;
  }

  private unreferenced(cutoff: number) {
    return this.db
      .selectFrom('blobs')
      .select(['digest', 'size'])
      .where('touched_at', '<', cutoff)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('manifest_refs').select(sql`1`.as('one')).whereRef('manifest_refs.digest', '=', 'blobs.digest'))),
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('manifests').select(sql`1`.as('one')).whereRef('manifests.digest', '=', 'blobs.digest'))),
      )
      .execute();
  }

  private async deleteRowIfUnreferenced(digest: Digest, cutoff: number): Promise<boolean> {
    const result = await this.db
      .deleteFrom('blobs')
      .where('digest', '=', digest)
      .where('touched_at', '<', cutoff)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('manifest_refs').select(sql`1`.as('one')).where('manifest_refs.digest', '=', digest))),
      )
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('manifests').select(sql`1`.as('one')).where('manifests.digest', '=', digest))),
      )
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  private async removeOrphanFiles(dryRun: boolean): Promise<number> {
    let removed = 0;
    for await (const digest of this.blobs.list()) {
      const orphan = await this.locks.run(digest, async () => {
        const row = await this.db.selectFrom('blobs').select('digest').where('digest', '=', digest).executeTakeFirst();
        if (row) return false;
        if (!dryRun) await this.blobs.delete(digest);
        return true;
      });
      if (orphan) removed++;
    }
    return removed;
  }
}
