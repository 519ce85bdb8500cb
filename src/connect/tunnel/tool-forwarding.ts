import { Agent, request, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { constants as h2, type IncomingHttpHeaders, type OutgoingHttpHeaders as Http2Headers, type ServerHttp2Stream } from 'node:http2';
import { connect } from 'node:net';
import type { ActivityMeter } from './activity-meter.ts';
import { hopByHopHeaders } from './tunnel-protocol.ts';

/** Connections to the tool are reused: a browser's requests arrive as many short streams. */
const toolConnections = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });

/** Sends one tunnel stream to the tool as an HTTP/1.1 request and streams the answer back. */
export function forwardToTool(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, hasBody: boolean, toolPort: number, activity: ActivityMeter): void {
  const outgoing: OutgoingHttpHeaders = {};
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* ':' */ || hopByHopHeaders.has(name)) continue;
    outgoing[name] = headers[name];
  }
  outgoing.host = headers[h2.HTTP2_HEADER_AUTHORITY] as string;
  const toTool = request({
    host: '127.0.0.1',
    port: toolPort,
    method: headers[h2.HTTP2_HEADER_METHOD] as string,
    path: headers[h2.HTTP2_HEADER_PATH] as string,
    headers: outgoing,
    agent: toolConnections,
  });
  toTool.on('response', (answer) => respond(stream, answer, activity));
  toTool.on('error', (error) => fail(stream, notAnswering(toolPort, error)));
  stream.on('close', () => {
    if (!toTool.writableFinished || !stream.writableFinished) toTool.destroy();
  });
  if (hasBody) stream.pipe(toTool);
  else toTool.end();
}

/** A CONNECT stream: raw bytes both ways between the tunnel and the tool's port (WebSockets and other upgrades). */
export function pipeToTool(stream: ServerHttp2Stream, toolPort: number, activity: ActivityMeter): void {
  const socket = connect({ host: '127.0.0.1', port: toolPort });
  socket.setNoDelay(true);
  socket.once('connect', () => {
    if (stream.destroyed) return socket.destroy();
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200 });
    socket.pipe(stream);
    stream.pipe(socket);
  });
  socket.on('data', () => activity.touch());
  stream.on('data', () => activity.touch());
  socket.on('error', (error) => fail(stream, notAnswering(toolPort, error)));
  socket.on('close', () => stream.destroyed || stream.close(h2.NGHTTP2_NO_ERROR));
  stream.on('close', () => socket.destroy());
}

function respond(stream: ServerHttp2Stream, answer: IncomingMessage, activity: ActivityMeter): void {
  if (stream.destroyed) {
    answer.destroy();
    return;
  }
  const status = answer.statusCode ?? 502;
  // HTTP/1 allows statuses up to 999, HTTP/2 only 200-599 (1xx are not final answers)
  const headers: Http2Headers = { [h2.HTTP2_HEADER_STATUS]: status >= 200 && status <= 599 ? status : 502 };
  for (const name in answer.headers) {
    if (!hopByHopHeaders.has(name)) headers[name] = answer.headers[name];
  }
  try {
    stream.respond(headers);
  } catch (error) {
    answer.destroy();
    fail(stream, `the tool's answer cannot cross the tunnel: ${(error as Error).message}`);
    return;
  }
  answer.pipe(stream);
  answer.once('end', () => activity.touch());
}

function fail(stream: ServerHttp2Stream, message: string): void {
  if (stream.destroyed) return;
  if (stream.headersSent) {
    stream.close(h2.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond({ [h2.HTTP2_HEADER_STATUS]: 502, 'content-type': 'text/plain; charset=utf-8' });
  stream.end(`${message}\n`);
}

function notAnswering(toolPort: number, error: Error): string {
  return `the tool is not answering on port ${toolPort} (${(error as NodeJS.ErrnoException).code ?? error.message})`;
}
