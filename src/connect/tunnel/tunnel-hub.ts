import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { ConnectSessions } from '../connect-sessions.ts';
import type { RouteHolder, RouteStore } from '../routes/route-store.ts';
import { acceptTunnel, ServerTunnel } from './server-tunnel.ts';
import type { AgentEvent } from './tunnel-protocol.ts';

export type AgentEventListener = (sessionId: string, event: AgentEvent) => void;

export interface TunnelHubOptions {
  routes: RouteStore;
  sessions: ConnectSessions;
  /** This server, as other replicas reach it; known once the listener is bound. */
  self: () => RouteHolder;
  pingIntervalS: number;
  log: (line: string) => void;
  /** How often routes are refreshed and reconciled (default 10 s). */
  heartbeatMs?: number;
}

/** Routes live three heartbeats: a replica that dies loses them within half a minute. */
const heartbeatMs = 10_000;
const routeTtlS = 30;

/**
 * The tunnels this server holds, one per session (the newest dial wins), published in the route store
 * so that replicas forward to the server that holds a session. Agent events are recorded on the session
 * and passed to listeners (the studios part follows its sessions this way).
 */
export class TunnelHub {
  private readonly tunnels = new Map<string, ServerTunnel>();
  private readonly listeners = new Set<AgentEventListener>();
  private readonly heartbeat: NodeJS.Timeout;
  /** Agent events are written in the order they came: `running` must not overtake `starting`. */
  private recording: Promise<void> = Promise.resolve();
  private readonly waiting = new Map<string, AgentEvent>();
  /** Aborted when the hub closes: whoever waits for a session's next status stops waiting. */
  private readonly closing = new AbortController();

  constructor(private readonly options: TunnelHubOptions) {
    this.heartbeat = setInterval(() => this.refreshRoutes(), options.heartbeatMs ?? heartbeatMs);
    this.heartbeat.unref();
  }

  /** The tunnel of a session held by this server, if any. */
  local(sessionId: string): ServerTunnel | undefined {
    return this.tunnels.get(sessionId);
  }

  /** The server that holds a session's tunnel, per the route store. */
  holderOf(sessionId: string): Promise<RouteHolder | undefined> {
    return this.options.routes.lookup(sessionId);
  }

  onAgentEvent(listener: AgentEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves at the next status an agent reports here for the session, after
   * `withinMs`, when `cancel` aborts or when the hub closes, whichever comes first: what a request waiting
   * for a starting session sleeps on.
   */
  nextChange(sessionId: string, withinMs: number, cancel: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const signals = [cancel, this.closing.signal];
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
        for (const signal of signals) signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, withinMs);
      const unsubscribe = this.onAgentEvent((id, event) => {
        if (id === sessionId && event.type === 'status') done();
      });
      for (const signal of signals) signal.addEventListener('abort', done, { once: true });
      if (signals.some((signal) => signal.aborted)) done();
    });
  }

  /** Takes an agent's tunnel upgrade on this server's listener. */
  async accept(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const { sessions, pingIntervalS } = this.options;
    const acceptance = { authenticate: async (id: string, token: string) => (await sessions.authenticateAgent(id, token)) !== undefined, pingIntervalS };
    const tunnel = await acceptTunnel(req, socket, head, acceptance, (id, event) => this.dispatch(id, event));
    if (!(tunnel instanceof ServerTunnel)) return;
    const previous = this.tunnels.get(tunnel.sessionId);
    this.tunnels.set(tunnel.sessionId, tunnel);
    previous?.close();
    void tunnel.closed.then(() => this.forget(tunnel));
    await this.options.routes.claim(tunnel.sessionId, this.options.self(), routeTtlS).catch((error: Error) => {
      this.options.log(`connect: cannot publish the route of session ${tunnel.sessionId}: ${error.message}`);
    });
  }

  /** Drops a session's tunnel here (its session was deleted). */
  disconnect(sessionId: string): void {
    this.tunnels.get(sessionId)?.close();
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.closing.abort();
    const held = [...this.tunnels.values()];
    this.tunnels.clear();
    for (const tunnel of held) tunnel.close();
    const serverId = this.options.self().serverId;
    await Promise.all(held.map((tunnel) => this.options.routes.release(tunnel.sessionId, serverId).catch(() => undefined)));
  }

  private forget(tunnel: ServerTunnel): void {
    if (this.tunnels.get(tunnel.sessionId) !== tunnel) return;
    this.tunnels.delete(tunnel.sessionId);
    this.options.routes.release(tunnel.sessionId, this.options.self().serverId).catch(() => undefined);
  }

  private dispatch(sessionId: string, event: AgentEvent): void {
    // An agent is not trusted to be polite: while a write of one kind (status, activity) waits for a session,
    // newer events of that kind replace the waiting one, so a flood costs one pending write, not a queue
    // without bound, and a `stopped` is never replaced by mere activity.
    const key = `${event.type}:${sessionId}`;
    const waiting = this.waiting.has(key);
    this.waiting.set(key, event);
    if (!waiting) this.recording = this.recording.then(() => this.record(key, sessionId));
  }

  private async record(key: string, sessionId: string): Promise<void> {
    const event = this.waiting.get(key)!;
    this.waiting.delete(key);
    const { sessions, log } = this.options;
    const written =
      event.type === 'status' ? sessions.recordStatus(sessionId, event.status, event.exitCode ?? null) : sessions.recordActivity(sessionId, event.at);
    await written.catch((error: Error) => log(`connect: cannot record the agent event of session ${sessionId}: ${error.message}`));
    for (const listener of this.listeners) listener(sessionId, event);
  }

  /**
   * The heartbeat, a reconcile pass: extends this server's routes, claims again any that vanished (the route
   * store lost them while unreachable for longer than their ttl) while the tunnel lives, and drops tunnels of
   * sessions deleted meanwhile.
   */
  private refreshRoutes(): void {
    if (this.tunnels.size === 0) return;
    const { routes, log } = this.options;
    const holder = this.options.self();
    const held = [...this.tunnels.keys()];
    const reconcile = async () => {
      await routes.refresh(held, holder, routeTtlS);
      for (const sessionId of held) {
        if (!(await this.options.sessions.find(sessionId))) {
          this.disconnect(sessionId); // deleted, perhaps through another replica
          continue;
        }
        if (this.tunnels.has(sessionId) && !(await routes.lookup(sessionId))) await routes.claim(sessionId, holder, routeTtlS);
      }
    };
    reconcile().catch((error: Error) => log(`connect: cannot refresh routes: ${error.message}`));
  }
}
