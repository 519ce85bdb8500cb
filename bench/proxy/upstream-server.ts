/**
 * The tool behind every proxy of the proxy benchmark, as its own process (so that its CPU is not the
 * benchmark's): `GET /small` (a few bytes), `GET /1mib` (1 MiB) and a WebSocket echo on `/echo`
 * (see upstream-content.ts).
 *
 *   node --import tsx bench/proxy/upstream-server.ts PORT
 *
 * Prints "listening" once it accepts connections.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';
import { largeBody, smallBody, upstreamPaths } from './upstream-content.ts';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error(`usage: upstream-server.ts PORT (got "${process.argv[2]}")`);

const bodies: Record<string, Buffer> = { [upstreamPaths.small]: smallBody, [upstreamPaths.large]: largeBody };

const server = createServer((req, res) => {
  const body = bodies[req.url ?? ''];
  if (!body) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length }).end(body);
});
// Longer than any proxy keeps an idle upstream connection: a proxy must never reuse one this server
// is closing at the same moment (which shows as a 502 in the middle of a load run).
server.keepAliveTimeout = 120_000;
server.headersTimeout = 125_000;
server.requestTimeout = 0;

const echo = new WebSocketServer({ noServer: true });
echo.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});
server.on('upgrade', (req, socket, head) => {
  if (req.url !== upstreamPaths.echo) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  echo.handleUpgrade(req, socket, head, (ws) => echo.emit('connection', ws, req));
});

server.listen(port, '127.0.0.1', () => console.log('listening'));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const client of echo.clients) client.terminate();
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
