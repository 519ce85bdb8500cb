import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/database.ts';
import type { ConnectSessionsTable } from '../db/schema.ts';
import { IdentityError } from '../identity/errors.ts';
import type { IdentityStore, User, Workspace } from '../identity/identity-store.ts';
import { roleAtLeast } from '../identity/roles.ts';
import type { AgentStatus } from './tunnel/tunnel-protocol.ts';

/** `waiting`: no agent has connected yet. */
export type SessionAgentStatus = AgentStatus | 'waiting';

export interface ConnectSession {
  id: string;
  workspaceId: string;
  /** The creator; the only user who may reach a private session. */
  userId: string;
  isPrivate: boolean;
  agentStatus: SessionAgentStatus;
  exitCode: number | null;
  statusAt: number;
  lastActivityAt: number | null;
  createdAt: number;
}

/** Session ids are the first label of a host name: lower-case letters and digits only. */
export const sessionIdPattern = /^[a-z0-9]{8,40}$/;
const idAlphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
const agentTokenPrefix = 'bsa_';
/** Activity is written at most this often per session: it is for idle detection, minutes not milliseconds. */
const activityResolutionMs = 30_000;
/** The proxy looks a session up on every request; a row this young is good enough (deletes here evict it). */
const recentMs = 1_000;
const recentLimit = 10_000;

/**
 * The sessions an agent may attach to and a user may reach, and what their agents last reported.
 * Studios create one per session run; the agent proves itself with the token handed out once here.
 */
export class ConnectSessions {
  private readonly activityWritten = new Map<string, number>();
  private readonly recent = new Map<string, { session: ConnectSession; at: number }>();

  constructor(
    private readonly db: Db,
    private readonly identity: IdentityStore,
  ) {}

  async create(input: { workspace: Workspace; user: User; isPrivate: boolean }): Promise<{ session: ConnectSession; agentToken: string }> {
    const agentToken = agentTokenPrefix + randomBytes(32).toString('base64url');
    const now = Date.now();
    const row: ConnectSessionsTable = {
      id: newSessionId(),
      workspace_id: input.workspace.id,
      user_id: input.user.id,
      is_private: input.isPrivate ? 1 : 0,
      agent_token_hash: hashAgentToken(agentToken),
      agent_status: 'waiting',
      exit_code: null,
      status_at: now,
      last_activity_at: null,
      created_at: now,
    };
    await this.db.insertInto('connect_sessions').values(row).execute();
    return { session: toSession(row), agentToken };
  }

  async find(id: string): Promise<ConnectSession | undefined> {
    if (!sessionIdPattern.test(id)) return undefined;
    const row = await this.db.selectFrom('connect_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toSession(row);
  }

  /** `find`, answered from a cache of rows read within the last second: the proxy's hot path. */
  async findRecent(id: string): Promise<ConnectSession | undefined> {
    const now = Date.now();
    const cached = this.recent.get(id);
    if (cached && now - cached.at < recentMs) return cached.session;
    const session = await this.find(id);
    if (this.recent.size >= recentLimit) this.recent.clear();
    if (session) this.recent.set(id, { session, at: now });
    else this.recent.delete(id);
    return session;
  }

  async require(id: string): Promise<ConnectSession> {
    const session = await this.find(id);
    if (!session) throw new IdentityError('NOT_FOUND', `session ${id} does not exist`);
    return session;
  }

  async listInWorkspace(workspaceId: string): Promise<ConnectSession[]> {
    const rows = await this.db.selectFrom('connect_sessions').selectAll().where('workspace_id', '=', workspaceId).orderBy('created_at', 'desc').execute();
    return rows.map(toSession);
  }

  /** The session whose agent token this is, or undefined; compares in constant time. */
  async authenticateAgent(id: string, token: string): Promise<ConnectSession | undefined> {
    if (!token.startsWith(agentTokenPrefix)) return undefined;
    const row = await this.db.selectFrom('connect_sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return undefined;
    const presented = Buffer.from(hashAgentToken(token), 'hex');
    const stored = Buffer.from(row.agent_token_hash, 'hex');
    return presented.length === stored.length && timingSafeEqual(presented, stored) ? toSession(row) : undefined;
  }

  async recordStatus(id: string, status: AgentStatus, exitCode: number | null): Promise<void> {
    this.recent.delete(id);
    await this.db
      .updateTable('connect_sessions')
      .set({ agent_status: status, exit_code: status === 'stopped' ? exitCode : null, status_at: Date.now() })
      .where('id', '=', id)
      .execute();
  }

  async recordActivity(id: string, at: number): Promise<void> {
    const written = this.activityWritten.get(id) ?? 0;
    if (at - written < activityResolutionMs) return;
    this.activityWritten.set(id, at);
    await this.db.updateTable('connect_sessions').set({ last_activity_at: at }).where('id', '=', id).execute();
  }

  /**
   * A new agent token for the session (each run of a studio gets its own; the previous run's agent can no
   * longer attach). The agent status goes back to `waiting`.
   */
  async rotateAgentToken(id: string): Promise<string> {
    const agentToken = agentTokenPrefix + randomBytes(32).toString('base64url');
    this.recent.delete(id);
    await this.db
      .updateTable('connect_sessions')
      .set({ agent_token_hash: hashAgentToken(agentToken), agent_status: 'waiting', exit_code: null, status_at: Date.now(), last_activity_at: null })
      .where('id', '=', id)
      .execute();
    this.activityWritten.delete(id);
    return agentToken;
  }

  /**
   * Ends the current run's agent token, so that no agent attaches until the next run (a stopped studio serves
   * nothing), and records the run as stopped when its agent did not say so itself (it was killed, or never
   * came): the proxy then says the session stopped instead of waiting for an agent that cannot come.
   */
  async revokeAgentToken(id: string): Promise<void> {
    this.recent.delete(id);
    const unusable = hashAgentToken(agentTokenPrefix + randomBytes(32).toString('base64url'));
    await this.db
      .updateTable('connect_sessions')
      .set((eb) => ({
        agent_token_hash: unusable,
        agent_status: 'stopped',
        // a run its agent reported stopped keeps the time it said so
        status_at: eb.case().when('agent_status', '=', 'stopped').then(eb.ref('status_at')).else(Date.now()).end(),
      }))
      .where('id', '=', id)
      .execute();
  }

  async setPrivate(id: string, isPrivate: boolean): Promise<void> {
    this.recent.delete(id);
    await this.db.updateTable('connect_sessions').set({ is_private: isPrivate ? 1 : 0 }).where('id', '=', id).execute();
  }

  /** Deletes the session: its agent token stops working and its URL answers 404. Idempotent. */
  async remove(id: string): Promise<void> {
    this.activityWritten.delete(id);
    this.recent.delete(id);
    await this.db.deleteFrom('connect_sessions').where('id', '=', id).execute();
  }

  /** Workspace role launch or above may connect; a private session only its creator (admins included). */
  async mayConnect(session: ConnectSession, user: User): Promise<boolean> {
    if (session.isPrivate) return session.userId === user.id;
    if (user.isAdmin) return true;
    return roleAtLeast(await this.identity.roleOf(user.id, session.workspaceId), 'launch');
  }
}

function newSessionId(): string {
  const bytes = randomBytes(16);
  return Array.from(bytes, (byte) => idAlphabet[byte % idAlphabet.length]).join('');
}

function hashAgentToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function toSession(row: ConnectSessionsTable): ConnectSession {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    userId: row.user_id,
    isPrivate: row.is_private === 1,
    agentStatus: row.agent_status as SessionAgentStatus,
    exitCode: row.exit_code,
    statusAt: Number(row.status_at),
    lastActivityAt: row.last_activity_at === null ? null : Number(row.last_activity_at),
    createdAt: Number(row.created_at),
  };
}
