import type { Selectable } from 'kysely';
import type { Db } from '../../db/database.ts';
import type { BuildsTable } from '../../db/schema.ts';
import type { CredentialRef } from '../../registry/auth/registry-tokens.ts';
import type { FailureReport } from '../executors/build-executor.ts';

export const buildStatuses = ['pending', 'building', 'succeeded', 'failed', 'cancelled'] as const;
export type BuildStatus = (typeof buildStatuses)[number];

export function isFinished(status: BuildStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/** A build as the service and the faces see it. */
export interface BuildRecord {
  id: string;
  containerId: string;
  workspaceId: string;
  userId: string;
  credential: CredentialRef;
  status: BuildStatus;
  executor: string | null;
  targetImage: string;
  /** What the executor pushes: `{local: true, image: 'ws/repo:tag'}` in Berth's registry, else a full reference. */
  push: { local: boolean; image: string };
  dockerfile: string;
  condaFile: string | null;
  platform: string;
  contextDigest: string | null;
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  digest: string | null;
  exitStatus: number | null;
  errorReport: FailureReport | null;
}

export type NewBuild = Pick<
  BuildRecord,
  'id' | 'containerId' | 'workspaceId' | 'userId' | 'credential' | 'targetImage' | 'push' | 'dockerfile' | 'condaFile' | 'platform' | 'contextDigest'
>;

/** Persists builds; every status change is one conditional UPDATE so two writers cannot both win. */
export class BuildStore {
  constructor(private readonly db: Db) {}

  async insert(build: NewBuild): Promise<BuildRecord> {
    const row: Selectable<BuildsTable> = {
      id: build.id,
      container_id: build.containerId,
      workspace_id: build.workspaceId,
      user_id: build.userId,
      credential_kind: build.credential.kind,
      credential_id: build.credential.id,
      status: 'pending',
      executor: null,
      target_image: build.targetImage,
      push_local: build.push.local ? 1 : 0,
      push_image: build.push.image,
      dockerfile: build.dockerfile,
      conda_file: build.condaFile,
      platform: build.platform,
      context_digest: build.contextDigest,
      attempts: 0,
      created_at: Date.now(),
      started_at: null,
      finished_at: null,
      digest: null,
      exit_status: null,
      error_report: null,
    };
    await this.db.insertInto('builds').values(row).execute();
    return toRecord(row);
  }

  async find(id: string): Promise<BuildRecord | undefined> {
    const row = await this.db.selectFrom('builds').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRecord(row);
  }

  /** The newest build of a container id (any status), to reuse, wait on, or number the next attempt. */
  async latestOf(containerId: string): Promise<BuildRecord | undefined> {
    const row = await this.db
      .selectFrom('builds')
      .selectAll()
      .where('container_id', '=', containerId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row && toRecord(row);
  }

  async countOf(containerId: string): Promise<number> {
    const row = await this.db.selectFrom('builds').select((eb) => eb.fn.countAll<number>().as('n')).where('container_id', '=', containerId).executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async list(workspaceIds: string[] | 'all', page: { max: number; offset: number }): Promise<BuildRecord[]> {
    let query = this.db.selectFrom('builds').selectAll();
    if (workspaceIds !== 'all') {
      if (workspaceIds.length === 0) return [];
      query = query.where('workspace_id', 'in', workspaceIds);
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(page.max).offset(page.offset).execute();
    return rows.map(toRecord);
  }

  async unfinished(): Promise<BuildRecord[]> {
    const rows = await this.db.selectFrom('builds').selectAll().where('status', 'in', ['pending', 'building']).orderBy('created_at').execute();
    return rows.map(toRecord);
  }

  /** pending → building; false when the build is no longer pending (cancelled meanwhile). */
  async markBuilding(id: string, executor: string): Promise<boolean> {
    const result = await this.db
      .updateTable('builds')
      .set((eb) => ({ status: 'building', executor, started_at: Date.now(), attempts: eb('attempts', '+', 1) }))
      .where('id', '=', id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /**
   * Back to pending (a restart interrupted it); false when it already finished. `refund` takes back the
   * attempt, for a build Berth itself stopped to shut down cleanly.
   */
  async requeue(id: string, options: { refund?: boolean } = {}): Promise<boolean> {
    const result = await this.db
      .updateTable('builds')
      .set((eb) => ({ status: 'pending', started_at: null, attempts: options.refund ? eb('attempts', '-', 1) : eb.ref('attempts') }))
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'building'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Records the end of a build that has not ended yet; false when another end was recorded first. */
  async finish(
    id: string,
    outcome: { status: 'succeeded'; digest: string } | { status: 'failed' | 'cancelled'; report: FailureReport; exitStatus: number },
  ): Promise<boolean> {
    const values =
      outcome.status === 'succeeded'
        ? { status: outcome.status, digest: outcome.digest, exit_status: 0, error_report: null }
        : { status: outcome.status, exit_status: outcome.exitStatus, error_report: JSON.stringify(outcome.report) };
    const result = await this.db
      .updateTable('builds')
      .set({ ...values, finished_at: Date.now() })
      .where('id', '=', id)
      .where('status', 'in', ['pending', 'building'])
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }
}

function toRecord(row: Selectable<BuildsTable>): BuildRecord {
  return {
    id: row.id,
    containerId: row.container_id,
    workspaceId: row.workspace_id,
    userId: row.user_id,
    credential: { kind: row.credential_kind, id: row.credential_id },
    status: row.status as BuildStatus,
    executor: row.executor,
    targetImage: row.target_image,
    push: { local: Number(row.push_local) === 1, image: row.push_image },
    dockerfile: row.dockerfile,
    condaFile: row.conda_file,
    platform: row.platform,
    contextDigest: row.context_digest,
    attempts: Number(row.attempts),
    createdAt: Number(row.created_at),
    startedAt: row.started_at === null ? null : Number(row.started_at),
    finishedAt: row.finished_at === null ? null : Number(row.finished_at),
    digest: row.digest,
    exitStatus: row.exit_status,
    errorReport: row.error_report ? (JSON.parse(row.error_report) as FailureReport) : null,
  };
}
