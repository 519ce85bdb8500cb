import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { StudioProxy } from '../connect/proxy/proxy.ts';

export interface Face {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface Mounts {
  /** `/v2/…`: the OCI registry. */
  registry: Face;
  /** `/api/…`: the management API. */
  api: Face;
  /** `/ecr`: the Amazon ECR-compatible API. */
  ecr: Face;
  /** `/v1alpha1/…`, `/v1alpha2/…`: the Wave-compatible build API. */
  wave: Face;
  /** Requests for studios (by Host or `/_studio/`), and every protocol upgrade. */
  studios: StudioProxy;
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>;
  /** `/login`, `/logout`, `/connect/authorize`: the platform's browser login and the studios' authorization step. */
  login: Face;
  isReady: () => boolean;
  log: (line: string) => void;
}

/**
 * The one listener. Requests for a studio go to the studio proxy; the rest route by path to each face;
 * answers `/healthz`. A failure no face handled is logged and answered with a 500 that reveals nothing.
 */
export function createHttpServer(mounts: Mounts): Server {
  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, (req, res) => {
    const target = mounts.studios.targetOf(req);
    const face = target ? { handle: () => mounts.studios.handle(req, res, target) } : pick(req.url ?? '/', mounts);
    if (!face) return notFound(res);
    face.handle(req, res).catch((error: unknown) => {
      mounts.log(`error: ${req.method} ${req.url?.slice(0, 300)}: ${(error as Error)?.stack ?? String(error)}`);
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'internal server error', detail: null }] }));
      } else {
        res.destroy();
      }
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    mounts.upgrade(req, socket, head).catch((error: unknown) => {
      mounts.log(`error: upgrade ${req.url?.slice(0, 300)}: ${(error as Error)?.stack ?? String(error)}`);
      socket.destroy();
    });
  });
  return server;

  function pick(url: string, m: Mounts): Face | undefined {
    if (url === '/v2' || url.startsWith('/v2/')) return m.registry;
    if (url.startsWith('/api/')) return m.api;
    if (url === '/ecr' || url.startsWith('/ecr/') || url.startsWith('/ecr?')) return m.ecr;
    if (url.startsWith('/v1alpha1/') || url.startsWith('/v1alpha2/') || url.startsWith('/container-token')) return m.wave;
    if (url === '/login' || url.startsWith('/login?') || url === '/logout' || url.startsWith('/connect/authorize')) return m.login;
    if (url === '/healthz') return { handle: async (_req, res) => health(res, m.isReady()) };
    return undefined;
  }
}

function health(res: ServerResponse, ready: boolean): void {
  const body = JSON.stringify({ status: ready ? 'ok' : 'starting' });
  res.writeHead(ready ? 200 : 503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function notFound(res: ServerResponse): void {
  const body = JSON.stringify({ error: { code: 'NOT_FOUND', message: 'nothing here' } });
  res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}
