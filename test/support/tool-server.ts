import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface ToolServer {
  port: number;
  /** Every request the tool saw, newest last. */
  seen: IncomingMessage[];
  close(): Promise<void>;
}

/**
 * A small web tool standing in for Jupyter where the test is about the transport, not the tool:
 * `/echo` answers with what it received (method, url, headers, body), `/stream?chunks=N` writes N chunks
 * 100 ms apart, `/bytes?n=N` sends N bytes, `/cookies` sets two cookies of its own and tries to plant Berth's
 * (by name, nameless, and for a parent domain), `/hang` never answers, `/half` sends half an answer and stops,
 * `/status600` answers with an unusual status, and WebSockets on any path echo.
 */
export async function startToolServer(port = 0): Promise<ToolServer> {
  const seen: IncomingMessage[] = [];
  const server: Server = createServer(async (req, res) => {
    seen.push(req);
    const url = new URL(req.url ?? '/', 'http://tool');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (url.pathname.endsWith('/stream')) {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      const count = Number(url.searchParams.get('chunks') ?? 3);
      for (let i = 0; i < count; i++) {
        res.write(`chunk ${i}\n`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return res.end();
    }
    if (url.pathname.endsWith('/bytes')) {
      const size = Number(url.searchParams.get('n') ?? 1024);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
      return res.end(Buffer.alloc(size, 7));
    }
    if (url.pathname.endsWith('/cookies')) {
      res.writeHead(200, { 'Set-Cookie': ['a=1; Path=/', 'berth_login=planted; Path=/', '=berth_studio=planted', 'c=3; Domain=localhost', 'b=2; Path=/'] });
      return res.end('cookies');
    }
    if (url.pathname.endsWith('/hang')) return;
    if (url.pathname.endsWith('/half')) {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 100 });
      return res.write('first half');
    }
    if (url.pathname.endsWith('/status600')) {
      res.writeHead(600);
      return res.end('odd');
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'X-Tool': 'yes' });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, bodyBytes: body.length, bodySha: sha(body) }));
  });
  const sockets = new WebSocketServer({ server });
  sockets.on('connection', (socket, req) => {
    seen.push(req);
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise((resolve) => {
        for (const client of sockets.clients) client.terminate();
        sockets.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sha(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}
