import { Agent, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { readAuthorization } from '../../http/basic-auth.ts';
import { Multiplexer, type MuxStream } from './multiplexer.ts';
import { parseAgentEvent, pingIntervalHeader, sessionIdHeader, tunnelUpgradeToken, type AgentEvent, type AgentStatus } from './tunnel-protocol.ts';

/**
 * The connect server's end of one session's tunnel. Requests for the tool travel as HTTP/1.1 over tunnel
 * streams that an `http.Agent` keeps alive like any upstream connections; upgrades get a stream of their
 * own. A ping that goes unanswered for a whole period ends the tunnel.
 */
export class ServerTunnel {
  readonly closed: Promise<void>;
  /** Connections to the tool, each a tunnel stream. */
  readonly httpAgent: Agent;
  /** What the agent last said about its tool over this tunnel; undefined before its first event. */
  toolStatus: AgentStatus | undefined;
  private readonly pinger: NodeJS.Timeout;
  private pingOutstanding = false;

  constructor(
    readonly sessionId: string,
    private readonly mux: Multiplexer,
    onEvent: (event: AgentEvent) => void,
    pingIntervalMs: number,
  ) {
    this.closed = new Promise((resolve) => mux.once('close', resolve));
    this.httpAgent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
    // a tunnel stream stands in for a socket (MuxStream answers the socket calls an Agent makes)
    this.httpAgent.createConnection = (() => mux.open()) as unknown as Agent['createConnection'];
    this.pinger = setInterval(() => this.ping(), pingIntervalMs);
    this.pinger.unref();
    mux.once('close', () => {
      clearInterval(this.pinger);
      this.httpAgent.destroy();
    });
    mux.on('event', (line) => {
      const event = parseAgentEvent(line);
      if (!event) return;
      if (event.type === 'status') this.toolStatus = event.status;
      onEvent(event);
    });
  }

  get isOpen(): boolean {
    return !this.mux.closed;
  }

  /** A raw byte pipe to the tool's port, for upgrades. */
  openPipe(): MuxStream {
    return this.mux.open();
  }

  close(): void {
    this.mux.destroy();
  }

  private ping(): void {
    if (this.pingOutstanding) {
      this.close(); // a whole period without an answer: the agent or the path to it is gone
      return;
    }
    this.pingOutstanding = true;
    this.mux.ping().then(
      () => (this.pingOutstanding = false),
      () => undefined,
    );
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
 * and starts the multiplexer on the socket. Refusals are JSON errors the agent prints.
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
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${tunnelUpgradeToken}\r\n${pingIntervalHeader}: ${acceptance.pingIntervalS}\r\n\r\n`,
  );
  if (head.length > 0) socket.unshift(head);
  return new ServerTunnel(sessionId, new Multiplexer(socket), (event) => onEvent(sessionId, event), acceptance.pingIntervalS * 1000);
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
