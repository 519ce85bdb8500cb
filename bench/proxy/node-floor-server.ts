/**
 * The Node floor's two processes (startNodeFloor in proxies.ts), each one mode of this script:
 *
 *   node --import tsx bench/proxy/node-floor-server.ts proxy PORT TARGET
 *     a reverse proxy with nothing but what Berth's server cannot do without: Node's HTTP server parses
 *     every request (Berth must, to authenticate it and strip its credentials) and sends it on with
 *     `http.request` over kept-alive connections; upgrades are piped as bytes.
 *   node --import tsx bench/proxy/node-floor-server.ts relay PORT TARGET
 *     a byte relay, as Berth's agent is: every connection piped to one of its own to TARGET.
 *
 * TARGET is host:port. Prints "listening" once it accepts connections.
 */
import { Agent, createServer, request } from 'node:http';
import { connect, createServer as createTcpServer, type Socket } from 'node:net';

const [mode, portText, target] = process.argv.slice(2);
const port = Number(portText);
const [targetHost, targetPortText] = (target ?? '').split(':');
const targetPort = Number(targetPortText);
if ((mode !== 'proxy' && mode !== 'relay') || !Number.isInteger(port) || !targetHost || !Number.isInteger(targetPort)) {
  throw new Error(`usage: node-floor-server.ts proxy|relay PORT HOST:PORT (got "${process.argv.slice(2).join(' ')}")`);
}

/** Both ends of a piped pair go down together. */
function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b).pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

function relay(): void {
  const server = createTcpServer((client) => {
    client.setNoDelay(true);
    const upstream = connect({ host: targetHost, port: targetPort });
    upstream.setNoDelay(true);
    pipeBoth(client, upstream);
  });
  server.listen(port, '127.0.0.1', () => console.log('listening'));
}

function proxy(): void {
  const connections = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  const server = createServer((req, res) => {
    const out = request({ host: targetHost, port: targetPort, method: req.method, path: req.url, headers: req.headers, agent: connections }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(out);
  });
  server.on('upgrade', (req, client: Socket, head: Buffer) => {
    const upstream = connect({ host: targetHost, port: targetPort }, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head.length > 0) upstream.write(head);
      pipeBoth(client, upstream);
    });
    upstream.on('error', () => client.destroy());
  });
  server.keepAliveTimeout = 120_000;
  server.listen(port, '127.0.0.1', () => console.log('listening'));
}

if (mode === 'relay') relay();
else proxy();
