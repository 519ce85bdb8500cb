import { Agent, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectSession } from '../connect-sessions.ts';
import type { RouteHolder } from '../routes/route-store.ts';
import { MultiplexerError, type MuxStream } from '../tunnel/multiplexer.ts';
import type { ServerTunnel } from '../tunnel/server-tunnel.ts';
import type { TunnelHub } from '../tunnel/tunnel-hub.ts';
import { endSocketWithPage, sendMessagePage } from './pages.ts';
import { withoutBerthCredentials, type StudioAccess, type StudioAuth } from './studio-auth.ts';
import type { StudioRouting, StudioTarget } from './studio-routing.ts';

/** Set by a replica that forwards a request to the server holding the tunnel; that server never forwards again. */
export const forwardedByHeader = 'berth-connect-forwarded-by';

export interface StudioProxyOptions {
  routing: StudioRouting;
  findSession: (sessionId: string) => Promise<ConnectSession | undefined>;
  auth: StudioAuth;
  hub: TunnelHub;
  self: () => RouteHolder;
  log: (line: string) => void;
  /** How long a GET or HEAD for a session that is coming up waits for its tool before the page saying so. */
  startWaitMs: number;
}

/** A waiting request looks at its session again at least this often (its tunnel may be at another replica). */
const startRecheckMs = 1_000;

/** Connections to other replicas are reused like any upstream's. */
const replicaConnections = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });

/**
 * The studio proxy: finds the session a request is for, lets in only who may reach it, strips Berth's
 * credentials, and streams the request through the session's tunnel (or to the replica that holds it).
 */
export class StudioProxy {
  constructor(private readonly options: StudioProxyOptions) {}

  /** The studio a request addresses, or undefined when it is for the platform itself. */
  targetOf(req: IncomingMessage): StudioTarget | undefined {
    return this.options.routing.targetOf(req);
  }

  async handle(req: IncomingMessage, res: ServerResponse, target: StudioTarget): Promise<void> {
    if (target.needsSlash) return this.addSlash(req, res, target);
    const session = await this.options.findSession(target.sessionId);
    if (!session) return sendMessagePage(res, 404, 'No such studio session', `There is no session ${target.sessionId}. It may have been deleted.`);
    if (this.options.auth.isCallback(req.url ?? '/', target)) return this.options.auth.handleCallback(req, res, session, target);
    if (crossOriginWrite(req)) return sendMessagePage(res, 403, 'Not allowed', crossOriginMessage);
    const access = await this.options.auth.check(req, session, target);
    if (access.kind === 'login') return void res.writeHead(302, { Location: access.location, 'Set-Cookie': access.setCookie, 'Cache-Control': 'no-store' }).end();
    if (access.kind === 'denied') return sendMessagePage(res, access.status, access.status === 401 ? 'Log in first' : 'Not allowed', access.message);
    if (access.setCookie) res.appendHeader('Set-Cookie', access.setCookie);
    const route = await this.routeOnceUp(req, res, session);
    if ('tunnel' in route) return this.throughTunnel(req, res, route.tunnel);
    if ('holder' in route) return this.toReplica(req, res, route.holder);
    // a browser showing the page asks again by itself, and that request waits for the tool in turn
    const retry = route.comingUp ? { 'Retry-After': '2', Refresh: '2' } : { 'Retry-After': '2' };
    sendMessagePage(res, 503, route.title, route.message, undefined, retry);
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: StudioTarget): Promise<void> {
    socket.on('error', () => undefined);
    const session = await this.options.findSession(target.sessionId);
    if (!session) return endSocketWithPage(socket, 404, 'No such studio session', `There is no session ${target.sessionId}.`);
    if (crossOrigin(req)) return endSocketWithPage(socket, 403, 'Not allowed', crossOriginMessage);
    const access: StudioAccess = await this.options.auth.check(req, session, target);
    if (access.kind !== 'allowed') {
      const status = access.kind === 'denied' ? access.status : 401;
      return endSocketWithPage(socket, status, 'Not allowed', access.kind === 'denied' ? access.message : 'Open the studio in the browser to log in first.');
    }
    const route = await this.routeOf(req, session);
    if ('tunnel' in route) return this.upgradeThroughTunnel(req, socket, head, route.tunnel);
    if ('holder' in route) return this.upgradeAtReplica(req, socket, head, route.holder);
    endSocketWithPage(socket, 503, route.title, route.message, { 'Retry-After': '2' });
  }

  /**
   * Where a request goes, once its session is up if it is coming up (starting, or its agent reconnecting):
   * a GET or HEAD waits up to `startWaitMs` for that, so that whoever opens a studio just started gets the
   * tool's answer rather than a page to reload, and nobody polls.
   */
  private async routeOnceUp(req: IncomingMessage, res: ServerResponse, session: ConnectSession): Promise<Route> {
    let route = await this.routeOf(req, session);
    if (!comingUp(route) || !waitingMethods.has(req.method ?? '')) return route;
    const deadline = Date.now() + this.options.startWaitMs;
    const gone = new AbortController();
    const leave = () => gone.abort();
    res.once('close', leave);
    try {
      while (comingUp(route) && Date.now() < deadline && !gone.signal.aborted) {
        await this.options.hub.nextChange(session.id, Math.min(startRecheckMs, deadline - Date.now()), gone.signal);
        const now = await this.options.findSession(session.id);
        if (!now) break;
        route = await this.routeOf(req, now);
      }
    } finally {
      res.off('close', leave);
    }
    return route;
  }

  /** Where a request for the session goes: its tunnel here, the replica holding it, or nowhere (and why). */
  private async routeOf(req: IncomingMessage, session: ConnectSession): Promise<Route> {
    const tunnel = this.options.hub.local(session.id);
    if (tunnel?.isOpen && tunnel.toolStatus === 'running') return { tunnel };
    const holder = tunnel ? undefined : await this.remoteHolder(req, session.id);
    return holder ? { holder } : unavailable(session, tunnel);
  }

  private addSlash(req: IncomingMessage, res: ServerResponse, target: StudioTarget): void {
    const query = (req.url ?? '').split('?')[1];
    res.writeHead(301, { Location: target.prefix + (query === undefined ? '' : `?${query}`) }).end();
  }

  private throughTunnel(req: IncomingMessage, res: ServerResponse, tunnel: ServerTunnel, retry = true): void {
    const toTool = request({
      agent: tunnel.httpAgent,
      method: req.method,
      path: req.url,
      headers: forwardedHeaders(req, false),
      setHost: false,
    });
    toTool.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, toolAnswerHeaders(answer.headers));
      answer.pipe(res);
      // the tunnel dropped during the answer: cut the connection, never pass a short body off as complete
      answer.on('aborted', () => res.destroy());
    });
    toTool.on('error', (error) => {
      // A kept-alive connection the tool closed just as this request went out: a request without a body can
      // go again, once, on a new connection (as browsers do) instead of failing.
      if (retry && toTool.reusedSocket && !hasBody(req) && !res.headersSent && tunnel.isOpen) return this.throughTunnel(req, res, tunnel, false);
      if (!res.headersSent) sendMessagePage(res, 502, 'The studio is not reachable', toolFailure(error));
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) toTool.destroy();
    });
    if (hasBody(req)) req.pipe(toTool);
    else {
      req.resume();
      toTool.end();
    }
  }

  private upgradeThroughTunnel(req: IncomingMessage, socket: Duplex, head: Buffer, tunnel: ServerTunnel): void {
    let pipe: MuxStream;
    try {
      pipe = tunnel.openPipe();
    } catch (error) {
      return endSocketWithPage(socket, 502, 'The studio is not reachable', (error as Error).message);
    }
    let answered = false;
    pipe.once('data', () => (answered = true));
    pipe.on('error', (error) => {
      if (answered) socket.destroy();
      else endSocketWithPage(socket, 502, 'The studio is not reachable', toolFailure(error));
    });
    pipe.write(requestHead(req, forwardedHeaders(req, true)));
    if (head.length > 0) pipe.write(head);
    socket.pipe(pipe).pipe(socket);
    socket.on('close', () => pipe.destroy());
  }

  /** Another replica holds the tunnel (and this request was not forwarded here already). */
  private async remoteHolder(req: IncomingMessage, sessionId: string): Promise<RouteHolder | undefined> {
    if (req.headers[forwardedByHeader] !== undefined) return undefined;
    const holder = await this.options.hub.holderOf(sessionId).catch((error: Error) => {
      this.options.log(`connect: route lookup failed: ${error.message}`);
      return undefined;
    });
    return holder && holder.serverId !== this.options.self().serverId ? holder : undefined;
  }

  /** The request goes on unchanged (credentials included: that replica checks them again). */
  private toReplica(req: IncomingMessage, res: ServerResponse, holder: RouteHolder): void {
    const replica = new URL(holder.url);
    const headers: OutgoingHttpHeaders = withoutHopByHop(req.headers);
    headers.host = req.headers.host;
    headers[forwardedByHeader] = this.options.self().serverId;
    const forwarded = request({ host: replica.hostname, port: replica.port, method: req.method, path: req.url, headers, agent: replicaConnections });
    forwarded.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
      answer.pipe(res);
      answer.on('aborted', () => res.destroy());
    });
    forwarded.on('error', (error) => {
      if (!res.headersSent) sendMessagePage(res, 502, 'The studio is not reachable', `The server holding its tunnel did not answer (${error.message}).`);
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) forwarded.destroy();
    });
    req.pipe(forwarded);
  }

  private upgradeAtReplica(req: IncomingMessage, socket: Duplex, head: Buffer, holder: RouteHolder): void {
    const replica = new URL(holder.url);
    const upstream = connect({ host: replica.hostname, port: Number(replica.port) || 80 });
    let piping = false;
    upstream.on('connect', () => {
      upstream.write(requestHead(req, { ...req.headers, [forwardedByHeader]: this.options.self().serverId }));
      if (head.length > 0) upstream.write(head);
      piping = true;
      socket.pipe(upstream).pipe(socket);
    });
    upstream.on('error', () => {
      if (piping) socket.destroy(); // an upgraded connection: no page can go into it any more
      else endSocketWithPage(socket, 502, 'The studio is not reachable', 'The server holding its tunnel did not answer.');
    });
    upstream.on('close', () => socket.destroy());
    socket.on('close', () => upstream.destroy());
  }
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return length !== undefined ? length !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/** The tool's answer headers, except hop-by-hop ones and cookies it may not set. */
function toolAnswerHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out = withoutHopByHop(headers);
  const cookies = headers['set-cookie'];
  if (cookies) out['set-cookie'] = cookies.filter((cookie) => !isForbiddenToolCookie(cookie));
  return out;
}

/** Why the tool could not be reached, as the agent or the tunnel said it. */
function toolFailure(error: Error): string {
  if (error instanceof MultiplexerError) return error.reason === 'closed' ? 'Its tunnel closed before the tool answered; try again.' : `${error.message}.`;
  return `The tool's answer broke off (${(error as NodeJS.ErrnoException).code ?? error.message}).`;
}

/**
 * Cookies a tool may not set: Berth's own (by name, or by value for a nameless `=berth_…` cookie, which
 * browsers read as named by its value), and any with a Domain attribute, which would reach other studios
 * or the platform.
 */
function isForbiddenToolCookie(cookie: string): boolean {
  const pair = cookie.split(';', 1)[0]!.trim();
  const name = pair.startsWith('=') ? pair.slice(1).trim() : pair;
  return /^berth_/i.test(name) || /;\s*domain\s*=/i.test(cookie);
}

const crossOriginMessage = 'Another site may not write to this studio or open its WebSockets (the Origin is not the studio\'s own).';
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The browser says the request comes from a page of another origin (e.g. another studio: studios share a
 * site, so SameSite cookies alone do not keep them apart). Under path routing all studios share one origin.
 */
function crossOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host?.toLowerCase();
  } catch {
    return true; // `null` (sandboxed frames, file:) or garbage
  }
}

function crossOriginWrite(req: IncomingMessage): boolean {
  return !safeMethods.has(req.method ?? 'GET') && crossOrigin(req);
}

/**
 * What the tool receives: the request without Berth's cookies and tokens, plus X-Forwarded-*. Upgrades
 * keep Connection/Upgrade (the tool must see them); everything else drops hop-by-hop headers.
 */
function forwardedHeaders(req: IncomingMessage, keepUpgrade: boolean): OutgoingHttpHeaders {
  const clean = withoutBerthCredentials(req.headers);
  const headers: OutgoingHttpHeaders = keepUpgrade ? { ...clean } : withoutHopByHop(clean);
  delete headers[forwardedByHeader];
  const socket = req.socket as { remoteAddress?: string; encrypted?: boolean; localPort?: number };
  const client = socket.remoteAddress ?? '';
  const before = req.headers['x-forwarded-for'];
  headers['x-forwarded-for'] = before ? `${before}, ${client}` : client;
  headers['x-forwarded-proto'] = socket.encrypted ? 'https' : 'http';
  if (req.headers.host) headers['x-forwarded-host'] = req.headers.host;
  headers['x-forwarded-port'] = String(portOf(req.headers.host) ?? socket.localPort ?? '');
  return headers;
}

/** HTTP/1.1 headers that describe one hop: not forwarded by the proxy. */
const hopByHopHeaders = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
]);

function withoutHopByHop(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) if (!hopByHopHeaders.has(name)) out[name] = headers[name];
  return out;
}

function portOf(host: string | undefined): number | undefined {
  const match = host ? /:(\d+)$/.exec(host) : null;
  return match ? Number(match[1]) : undefined;
}

/** An HTTP/1.1 request head, for upgrades that continue as raw bytes. */
function requestHead(req: IncomingMessage, headers: OutgoingHttpHeaders): string {
  let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) head += `${name}: ${String(one).replace(/[\r\n]/g, '')}\r\n`;
  }
  return `${head}\r\n`;
}

interface Unavailable {
  title: string;
  message: string;
  /** The session may come up on its own (starting, or its agent reconnecting); not when it stopped. */
  comingUp: boolean;
}

type Route = { tunnel: ServerTunnel } | { holder: RouteHolder } | Unavailable;

function comingUp(route: Route): boolean {
  return 'comingUp' in route && route.comingUp;
}

/** Requests that may wait for a session coming up: they change nothing, so a late answer harms no one. */
const waitingMethods = new Set(['GET', 'HEAD']);

/** Why a session's tool cannot be reached now, from its tunnel's live status or else its recorded one. */
function unavailable(session: ConnectSession, tunnel: ServerTunnel | undefined): Unavailable {
  switch (tunnel?.toolStatus ?? session.agentStatus) {
    case 'stopped':
      return {
        title: 'This studio session has stopped',
        message: `Session ${session.id} stopped${session.exitCode === null ? '' : ` (its tool exited with code ${session.exitCode})`}. Start it again to use it.`,
        comingUp: false,
      };
    case 'waiting':
      return { title: 'This studio session is starting', message: `Session ${session.id} is starting: its agent has not connected yet.`, comingUp: true };
    case 'starting':
      return { title: 'This studio session is starting', message: `Session ${session.id} is starting: its tool does not accept connections yet.`, comingUp: true };
    default:
      return {
        title: 'This studio session is not connected',
        message: `Session ${session.id} is ${session.agentStatus}, but its agent is not connected right now; it reconnects on its own.`,
        comingUp: true,
      };
  }
}
