import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { StudiosTable } from '../../db/schema.ts';
import type { RunnerPlatform } from '../runners/runner.ts';
import { mayBecome, type ProgressStatus, type ProgressStep, type StopReason, type StudioStatus } from './session-status.ts';

/** What a studio is made of; saved, edited, and used by every start. */
export interface StudioDefinition {
  /** A built-in or configured template (jupyter, vscode…), or null for a custom image or repository. */
  templateKey: string | null;
  /** The image to run (template image with its version tag, or any image); null when a repository says. */
  image: string | null;
  remoteConfig: { repository: string; revision: string | null; credentialsId: string | null } | null;
  configuration: {
    cpu: number;
    /** MiB. */
    memory: number;
    gpu: number;
    condaEnvironment: string | null;
    environment: Record<string, string>;
    mountData: string[];
    /** Null: the workspace's setting or the server default. */
    lifespanHours: number | null;
  };
  isPrivate: boolean;
  labels: string[];
}

/** The current or last run of a studio's session. */
export interface StudioRun {
  computeEnvId: string;
  platform: RunnerPlatform;
  /** The runner's handle once compute was started. */
  handle: string | null;
  buildId: string | null;
  /** The image the session runs (after a build: the built one); null on the local runner. */
  image: string | null;
  startedAt: number;
  /** When the lifespan ends; null for no limit. */
  expiresAt: number | null;
  stoppingSince: number | null;
  /** Who started it (builds are made with their rights). */
  startedBy: string;
  /** The API credential that started it: image pulls from Berth's registry log in with its rights, and end with it. */
  credential: { kind: 'api-token' | 'access-key'; id: string };
}

export interface Studio {
  sessionId: string;
  workspaceId: string;
  userId: string;
  name: string;
  description: string | null;
  definition: StudioDefinition;
  computeEnvId: string | null;
  status: StudioStatus;
  statusMessage: string | null;
  stopReason: StopReason | null;
  statusAt: number;
  run: StudioRun | null;
  createdAt: number;
  updatedAt: number;
  lastStartedAt: number | null;
}

export interface StudioEvent {
  sessionId: string;
  seq: number;
  at: number;
  step: ProgressStep;
  status: ProgressStatus;
  message: string;
}

export interface StudioFilter {
  workspaceId: string;
  /** Part of the name (case-insensitive). */
  search?: string;
  status?: StudioStatus;
  userId?: string;
  max: number;
  offset: number;
}

export class StudioConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StudioConflict';
  }
}

/** Studios and their session events in the database. Status changes are compare-and-set: two writers never both win. */
export class StudioStore {
  constructor(private readonly db: Db) {}

  async create(input: { sessionId: string; workspaceId: string; userId: string; name: string; description: string | null; definition: StudioDefinition; computeEnvId: string | null }): Promise<Studio> {
    const now = Date.now();
    const row: StudiosTable = {
      session_id: input.sessionId,
      workspace_id: input.workspaceId,
      user_id: input.userId,
      name: input.name,
      description: input.description,
      definition: JSON.stringify(input.definition),
      compute_env_id: input.computeEnvId,
      status: 'stopped',
      status_message: null,
      stop_reason: null,
      status_at: now,
      run: null,
      created_at: now,
      updated_at: now,
      last_started_at: null,
    };
    try {
      await this.db.insertInto('studios').values(row).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new StudioConflict(`a studio named "${input.name}" already exists in this workspace`);
      throw error;
    }
    return toStudio(row);
  }

  async find(sessionId: string): Promise<Studio | undefined> {
    const row = await this.db.selectFrom('studios').selectAll().where('session_id', '=', sessionId).executeTakeFirst();
    return row && toStudio(row);
  }

  async findByName(workspaceId: string, name: string): Promise<Studio | undefined> {
    const row = await this.db.selectFrom('studios').selectAll().where('workspace_id', '=', workspaceId).where('name', '=', name).executeTakeFirst();
    return row && toStudio(row);
  }

  async list(filter: StudioFilter): Promise<{ studios: Studio[]; totalSize: number }> {
    let query = this.db.selectFrom('studios').where('workspace_id', '=', filter.workspaceId);
    if (filter.status) query = query.where('status', '=', filter.status);
    if (filter.userId) query = query.where('user_id', '=', filter.userId);
    if (filter.search) query = query.where(sql<boolean>`lower(name) like ${`%${escapeLike(filter.search.toLowerCase())}%`} escape '\\'`);
    const total = await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    const rows = await query.selectAll().orderBy('created_at', 'desc').orderBy('session_id').limit(filter.max).offset(filter.offset).execute();
    return { studios: rows.map(toStudio), totalSize: Number(total.count) };
  }

  /** Studios whose sessions may have something running or under way: what the reconcile loop looks at. */
  async listActive(): Promise<Studio[]> {
    const rows = await this.db.selectFrom('studios').selectAll().where('status', 'in', ['building', 'starting', 'running', 'stopping']).execute();
    return rows.map(toStudio);
  }

  async countInWorkspace(workspaceId: string): Promise<number> {
    const row = await this.db.selectFrom('studios').select((eb) => eb.fn.countAll<number>().as('count')).where('workspace_id', '=', workspaceId).executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async update(sessionId: string, changes: { name?: string; description?: string | null; definition?: StudioDefinition; computeEnvId?: string | null }): Promise<void> {
    try {
      await this.db
        .updateTable('studios')
        .set({
          ...(changes.name !== undefined && { name: changes.name }),
          ...(changes.description !== undefined && { description: changes.description }),
          ...(changes.definition !== undefined && { definition: JSON.stringify(changes.definition) }),
          ...(changes.computeEnvId !== undefined && { compute_env_id: changes.computeEnvId }),
          updated_at: Date.now(),
        })
        .where('session_id', '=', sessionId)
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new StudioConflict(`a studio named "${changes.name}" already exists in this workspace`);
      throw error;
    }
  }

  /**
   * Moves a studio from `from` to `to` if it is still in `from` and the state machine allows it; false
   * when someone else changed it first. `run` replaces the run record when given.
   */
  async transition(
    sessionId: string,
    from: StudioStatus,
    to: StudioStatus,
    details: { message?: string | null; stopReason?: StopReason | null; run?: StudioRun | null; started?: boolean } = {},
  ): Promise<boolean> {
    if (from !== to && !mayBecome(from, to)) throw new StudioConflict(`a studio cannot go from ${from} to ${to}`);
    const now = Date.now();
    const result = await this.db
      .updateTable('studios')
      .set({
        status: to,
        status_message: details.message ?? null,
        stop_reason: details.stopReason ?? null,
        status_at: now,
        ...(details.run !== undefined && { run: details.run === null ? null : JSON.stringify(details.run) }),
        ...(details.started && { last_started_at: now }),
      })
      .where('session_id', '=', sessionId)
      .where('status', '=', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  /** Changes the run record without a status change (a handle once compute started, a new expiry). */
  async updateRun(sessionId: string, run: StudioRun): Promise<void> {
    await this.db.updateTable('studios').set({ run: JSON.stringify(run) }).where('session_id', '=', sessionId).execute();
  }

  async delete(sessionId: string): Promise<void> {
    await this.db.deleteFrom('studios').where('session_id', '=', sessionId).execute();
  }

  async addEvent(event: Omit<StudioEvent, 'seq'>): Promise<StudioEvent> {
    return this.db.transaction().execute(async (tx) => {
      const last = await tx.selectFrom('studio_events').select((eb) => eb.fn.max('seq').as('seq')).where('session_id', '=', event.sessionId).executeTakeFirst();
      const seq = Number(last?.seq ?? 0) + 1;
      await tx.insertInto('studio_events').values({ session_id: event.sessionId, seq, at: event.at, step: event.step, status: event.status, message: event.message }).execute();
      return { ...event, seq };
    });
  }

  /** Events of the session's current run: those since its last start. */
  async events(sessionId: string, since: number): Promise<StudioEvent[]> {
    const rows = await this.db.selectFrom('studio_events').selectAll().where('session_id', '=', sessionId).where('at', '>=', since).orderBy('seq').execute();
    return rows.map((row) => ({ sessionId: row.session_id, seq: Number(row.seq), at: Number(row.at), step: row.step as ProgressStep, status: row.status as ProgressStatus, message: row.message }));
  }
}

function escapeLike(text: string): string {
  return text.replace(/[%_\\]/g, (c) => `\\${c}`);
}

function toStudio(row: StudiosTable): Studio {
  return {
    sessionId: row.session_id,
    workspaceId: row.workspace_id,
    userId: row.user_id,
    name: row.name,
    description: row.description,
    definition: JSON.parse(row.definition) as StudioDefinition,
    computeEnvId: row.compute_env_id,
    status: row.status as StudioStatus,
    statusMessage: row.status_message,
    stopReason: row.stop_reason as StopReason | null,
    statusAt: Number(row.status_at),
    run: row.run === null ? null : (JSON.parse(row.run) as StudioRun),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    lastStartedAt: row.last_started_at === null ? null : Number(row.last_started_at),
  };
}
