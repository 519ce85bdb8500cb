import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import { ActivityMeter } from './activity-meter.ts';
import { Multiplexer } from './multiplexer.ts';
import { pipeToTool } from './tool-forwarding.ts';
import { pingIntervalHeader, sessionIdHeader, tunnelPath, tunnelUpgradeToken, type AgentEvent } from './tunnel-protocol.ts';

export interface AgentTunnelOptions {
  /** The connect server, e.g. http://berth.example.org:8080 (BERTH_CONNECT_URL). */
  connectUrl: string;
  sessionId: string;
  /** The session's agent token (BERTH_SESSION_TOKEN). */
  token: string;
  toolPort: number;
  log: (line: string) => void;
}

type StatusEvent = Extract<AgentEvent, { type: 'status' }>;

/** Answers from the connect server that no retry can change. */
const fatalStatuses = new Set([400, 401, 403, 404]);
const firstBackoffMs = 250;
const maxBackoffMs = 10_000;
/** How often activity is reported while traffic flows: idle detection works in minutes. */
const activityReportMs = 5_000;

/**
 * The agent's end of the tunnel: dials the connect server, relays every stream the server opens on the
 * upgraded socket to the tool's port (see tunnel-protocol.ts), and dials again with backoff whenever the
 * tunnel drops, until closed.
 */
export class AgentTunnel {
  onFatal?: (message: string) => void;
  private status: StatusEvent | undefined;
  private delivered = false;
  private deliveredWaiters: Array<() => void> = [];
  private mux: Multiplexer | undefined;
  private socket: Socket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private silenceTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private backoffMs = firstBackoffMs;
  private silenceLimitMs = 45_000;
  private readonly activity: ActivityMeter;

  constructor(private readonly options: AgentTunnelOptions) {
    this.activity = new ActivityMeter(activityReportMs, (at) => this.send({ type: 'activity', at }));
  }

  start(): void {
    this.dial();
  }

  /** Sets the current status; sent now if connected, and first on every reconnect. */
  report(event: StatusEvent): void {
    this.status = event;
    this.delivered = false;
    this.send(event);
  }

  /** True once the last reported status was handed to a live tunnel; false after `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean> {
    if (this.delivered || !this.status) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.deliveredWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /**
   * Ends the tunnel: a FIN after what is written (the last status, once flushed), the socket destroyed if the
   * server does not close its side within a second. Requests still in flight are cut: the agent closes only
   * once its tool is gone, so nothing could answer them.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.silenceTimer);
    this.activity.stop();
    const socket = this.socket;
    if (!socket || socket.destroyed) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => socket.destroy(), 1_000);
      socket.once('close', () => {
        clearTimeout(force);
        resolve();
      });
      socket.end();
    });
  }

  private dial(): void {
    if (this.closed) return;
    const url = new URL(tunnelPath, this.options.connectUrl);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, {
      method: 'GET',
      headers: {
        Connection: 'Upgrade',
        Upgrade: tunnelUpgradeToken,
        [sessionIdHeader]: this.options.sessionId,
        Authorization: `Bearer ${this.options.token}`,
      },
    });
    req.on('upgrade', (res, socket, head) => this.upgraded(res, socket, head));
    req.on('response', (res) => this.refused(res));
    req.on('error', (error) => this.retry(`cannot reach ${url.origin}: ${error.message}`));
    req.end();
  }

  private upgraded(res: IncomingMessage, socket: Socket, head: Buffer): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.backoffMs = firstBackoffMs;
    this.socket = socket;
    socket.setNoDelay(true);
    if (head.length > 0) socket.unshift(head);
    const pingS = Number(res.headers[pingIntervalHeader]) || 15;
    this.watchSilence(pingS * 3 * 1000);
    socket.once('close', () => this.dropped());
    const mux = new Multiplexer(socket);
    this.mux = mux;
    mux.on('ping', () => this.watchSilence());
    mux.on('stream', (stream) => pipeToTool(stream, this.options.toolPort, this.activity));
    if (this.status) this.send(this.status);
    this.options.log(`connected to ${this.options.connectUrl} as session ${this.options.sessionId}`);
  }

  private refused(res: IncomingMessage): void {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.length < 16 && chunks.push(chunk));
    res.on('end', () => {
      const reason = `${res.statusCode} ${messageOf(Buffer.concat(chunks).toString('utf8'))}`;
      if (fatalStatuses.has(res.statusCode ?? 0)) {
        this.closed = true;
        this.options.log(`the connect server refused this agent: ${reason}`);
        this.onFatal?.(`the connect server refused this agent: ${reason}`);
        return;
      }
      this.retry(`the connect server answered ${reason}`);
    });
  }

  private send(event: AgentEvent): void {
    const mux = this.mux;
    if (!mux || mux.closed) return;
    const isCurrentStatus = event === this.status;
    mux.sendEvent(JSON.stringify(event), (error) => {
      if (error || !isCurrentStatus || this.status !== event) return;
      this.delivered = true;
      for (const waiter of this.deliveredWaiters.splice(0)) waiter();
    });
  }

  /** No ping from the server for this long: the tunnel is dead even if the socket does not know it yet. */
  private watchSilence(limitMs?: number): void {
    const limit = limitMs ?? this.silenceLimitMs;
    this.silenceLimitMs = limit;
    clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      this.options.log('the connect server went silent; dialing again');
      this.socket?.destroy();
    }, limit);
    this.silenceTimer.unref();
  }

  private dropped(): void {
    clearTimeout(this.silenceTimer);
    this.mux = undefined;
    this.socket = undefined;
    this.retry('the tunnel closed');
  }

  private retry(reason: string): void {
    if (this.closed) return;
    const delay = Math.round(this.backoffMs * (0.75 + Math.random() * 0.5));
    this.backoffMs = Math.min(this.backoffMs * 2, maxBackoffMs);
    this.options.log(`${reason}; dialing again in ${(delay / 1000).toFixed(1)} s`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.dial(), delay);
  }
}

function messageOf(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } };
    if (parsed.error?.message) return parsed.error.message;
  } catch {
    // not JSON: show the text
  }
  return body.slice(0, 300);
}
