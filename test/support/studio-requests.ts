import { request, type IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';

export interface StudioResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/** `<sessionId>.localhost:<port>`: a studio's host under subdomain routing. */
export function studioHost(berthUrl: string, sessionId: string): string {
  return `${sessionId}.localhost:${new URL(berthUrl).port}`;
}

/**
 * A request to a studio through Berth's listener with an explicit Host: `*.localhost` resolves to
 * loopback in browsers, not in Node, so tests connect to the listener and name the studio's host.
 */
export function studioRequest(
  berthUrl: string,
  host: string,
  path: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: Buffer | string } = {},
): Promise<StudioResponse> {
  const listener = new URL(berthUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: listener.hostname, port: listener.port, method: options.method ?? 'GET', path, headers: { ...options.headers, host } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** A WebSocket to a studio through Berth's listener, with an explicit Host (see studioRequest); Origin: the studio's own unless `headers.origin`. */
export function openStudioSocket(berthUrl: string, host: string, path: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  const listener = new URL(berthUrl);
  const { origin = `http://${host}`, ...rest } = headers;
  const socket = new WebSocket(`ws://${listener.host}${path}`, { headers: { ...rest, host }, origin });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade answered ${res.statusCode}`)));
    socket.once('error', reject);
  });
}

/** Sends one message and resolves with the next message received. */
export function roundTrip(socket: WebSocket, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('message', (data) => resolve(data.toString()));
    socket.once('error', reject);
    socket.send(message);
  });
}
