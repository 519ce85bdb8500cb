import type { IncomingMessage } from 'node:http';
import { connect, constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import { readAuthorization } from '../../http/basic-auth.ts';
import {
  eventsPath,
  parseAgentEvent,
  pingIntervalHeader,
  sessionIdHeader,
  toolAuthority,
  tunnelSettings,
  tunnelUpgradeToken,
  tunnelWindowBytes,
  type AgentEvent,
  type AgentStatus,
} from './tunnel-protocol.ts';

/**
 * The connect server's end of one session's tunnel: an HTTP/2 client over the socket the agent dialed.
 * Every browser request becomes a stream; a ping that goes unanswered for a whole period ends it.
 */
export class ServerTunnel {
  readonly closed: Promise<void>;
  /** What the agent last said about its tool over this tunnel; undefined before its first event. */
  toolStatus: AgentStatus | undefined;
  private readonly pinger: NodeJS.Timeout;
  private pingOutstanding = false;

  constructor(
    readonly sessionId: string,
    private readonly client: ClientHttp2Session,
    onEvent: (event: AgentEvent) => void,
    pingIntervalMs: number,
  ) {
    this.closed = new Promise((resolve) => client.once('close', resolve));
    client.on('error', () => undefined);
    client.once('connect', () => client.setLocalWindowSize(tunnelWindowBytes));
    this.pinger = setInterval(() => this.ping(), pingIntervalMs);
    this.pinger.unref();
    client.once('close', () => clearInterval(this.pinger));
    this.listen(onEvent);
  }

  get isOpen(): boolean {
    return !this.client.closed && !this.client.destroyed;
  }

  /** An HTTP request for the tool; `headers` carry `:method`, `:path` and `:authority`. */
  request(headers: OutgoingHttpHeaders, hasBody: boolean): ClientHttp2Stream {
    return this.client.request(headers, { endStream: !hasBody });
  }

  /** A raw byte pipe to the tool's port, for upgrades. */
  openPipe(): ClientHttp2Stream {
    return this.client.request({ [h2.HTTP2_HEADER_METHOD]: 'CONNECT', [h2.HTTP2_HEADER_AUTHORITY]: toolAuthority });
  }

  close(): void {
    this.client.destroy();
  }

  private listen(onEvent: (event: AgentEvent) => void): void {
    const events = this.client.request({ [h2.HTTP2_HEADER_METHOD]: 'GET', [h2.HTTP2_HEADER_PATH]: eventsPath });
    events.setEncoding('utf8');
    let pending = '';
    events.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const event = parseAgentEvent(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        if (!event) continue;
        if (event.type === 'status') this.toolStatus = event.status;
        onEvent(event);
      }
      if (pending.length > 64 * 1024) this.close(); // not the protocol: a line this long is no event
    });
    events.on('error', () => undefined);
  }

  private ping(): void {
    if (this.pingOutstanding) {
      this.close(); // a whole period without an answer: the agent or the path to it is gone
      return;
    }
    this.pingOutstanding = true;
    try {
      this.client.ping((error) => {
        if (!error) this.pingOutstanding = false;
      });
    } catch {
      this.close();
    }
  }
}

export type TunnelRefusal = { status: 400 | 401 | 404; code: string; message: string };

export interface TunnelAcceptance {
  /** The session whose agent token was presented, or a refusal. */
  authenticate(sessionId: string, token: string): Promise<boolean>;
  pingIntervalS: number;
}

/**
 * Answers an agent's `GET /connect/v1/tunnel` upgrade: checks its session and token, switches protocols
 * and starts HTTP/2 over the socket. Refusals are JSON errors the agent prints.
 */
export async function acceptTunnel(
  req: IncomingMessage,
  socket: Socket,
  head: Buffer,
  acceptance: TunnelAcceptance,
  onEvent: (sessionId: string, event: AgentEvent) => void,
): Promise<ServerTunnel | TunnelRefusal> {
  const refusal = await checkDial(req, acceptance);
  if ('status' in refusal) {
    const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
    socket.end(
      `HTTP/1.1 ${refusal.status} ${refusal.code}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
    return refusal;
  }
  const { sessionId } = refusal;
  socket.setTimeout(0);
  socket.setNoDelay(true);
  // the HTTP server made this socket half-open capable: without this, an agent that is gone would be noticed
  // only by the next unanswered ping, and requests in flight would wait for it
  socket.once('end', () => socket.destroy());
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${tunnelUpgradeToken}\r\n${pingIntervalHeader}: ${acceptance.pingIntervalS}\r\n\r\n`,
  );
  if (head.length > 0) socket.unshift(head);
  const client = connect(`http://${toolAuthority}`, { createConnection: () => socket, settings: tunnelSettings, maxSessionMemory: 256 });
  return new ServerTunnel(sessionId, client, (event) => onEvent(sessionId, event), acceptance.pingIntervalS * 1000);
}

async function checkDial(req: IncomingMessage, acceptance: TunnelAcceptance): Promise<TunnelRefusal | { sessionId: string }> {
  if ((req.headers.upgrade ?? '').toLowerCase() !== tunnelUpgradeToken) {
    return { status: 400, code: 'BAD_REQUEST', message: `the tunnel speaks Upgrade: ${tunnelUpgradeToken}` };
  }
  const sessionId = req.headers[sessionIdHeader];
  const credentials = readAuthorization(req.headers.authorization);
  if (typeof sessionId !== 'string' || credentials.scheme !== 'bearer') {
    return { status: 401, code: 'UNAUTHORIZED', message: `send ${sessionIdHeader} and the session's agent token (Authorization: Bearer)` };
  }
  if (!(await acceptance.authenticate(sessionId, credentials.token))) {
    return { status: 401, code: 'UNAUTHORIZED', message: `session ${sessionId.slice(0, 40)} does not exist or the agent token is wrong` };
  }
  return { sessionId };
}
