import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Multiplexer, MultiplexerError, windowBytes, type MuxStream } from '../../../src/connect/tunnel/multiplexer.ts';

/** Two ends of a real loopback TCP connection, each with its multiplexer (`opener` opens streams). */
async function connectedPair(): Promise<{ opener: Multiplexer; acceptor: Multiplexer; sockets: Socket[]; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  const [serverSide] = await accepted;
  return { opener: new Multiplexer(client), acceptor: new Multiplexer(serverSide), sockets: [client, serverSide], server };
}

function read(stream: MuxStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return new Promise((resolve, reject) => {
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
  });
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('Multiplexer: byte streams with their own flow control over one socket', () => {
  let pair: Awaited<ReturnType<typeof connectedPair>>;
  before(async () => {
    pair = await connectedPair();
    // the acceptor echoes every stream back
    pair.acceptor.on('stream', (stream) => stream.pipe(stream));
  });
  after(() => {
    for (const socket of pair.sockets) socket.destroy();
    pair.server.close();
  });

  it('carries bytes both ways intact, far beyond one window, and half-closes', async () => {
    const payload = Buffer.alloc(3 * windowBytes + 12345);
    for (let i = 0; i < payload.length; i += 997) payload[i] = i % 256;
    const stream = pair.opener.open();
    const echoed = read(stream);
    stream.end(payload);
    assert.equal(sha(await echoed), sha(payload));
  });

  it('runs many streams at once without mixing their bytes', async () => {
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const stream = pair.opener.open();
        const echoed = read(stream);
        stream.end(Buffer.from(`stream ${i} `.repeat(1000)));
        return (await echoed).toString();
      }),
    );
    results.forEach((text, i) => assert.equal(text, `stream ${i} `.repeat(1000)));
  });

  it('a reader that does not read holds back only its own stream', async () => {
    const { opener, acceptor, sockets, server } = await connectedPair();
    const accepted: MuxStream[] = [];
    acceptor.on('stream', (stream) => accepted.push(stream.on('error', () => undefined)));
    try {
      const stalled = opener.open().on('error', () => undefined);
      // more than a window into a stream nobody reads: the writer must be held back, not the socket
      let stalledWritten = 0;
      const chunk = Buffer.alloc(64 * 1024);
      while (stalled.write(chunk)) stalledWritten += chunk.length;
      const lively = opener.open().on('error', () => undefined);
      lively.end(Buffer.from('still flowing'));
      while (accepted.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
      assert.equal((await read(accepted[1]!)).toString(), 'still flowing');
      assert.ok(stalledWritten < 2 * windowBytes, 'the stalled writer is told to wait');
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });

  it('writers wait while the socket is backed up, so a slow peer costs about a MiB of buffer, not a window per stream', async () => {
    const { opener, sockets, server } = await connectedPair();
    try {
      sockets[1]!.pause(); // the peer stops reading: the kernel's buffers fill, then Node's
      const chunk = Buffer.alloc(64 * 1024);
      const streams = Array.from({ length: 20 }, () => opener.open().on('error', () => undefined));
      for (const stream of streams) {
        let written = 0;
        const produce = () => {
          while (written < windowBytes && stream.write(chunk)) written += chunk.length;
        };
        stream.on('drain', produce);
        produce();
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const backlog = sockets[0]!.writableLength;
      // the limit (1 MiB) and at most one chunk of each stream written before it was reached; 40 MiB without it
      assert.ok(backlog <= 2 ** 20 + streams.length * chunk.length, `${(backlog / 2 ** 20).toFixed(1)} MiB wait in the socket's buffer`);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });

  it('a reset reaches the other end with its reason; a closed socket ends every stream with an error', async () => {
    const { opener, acceptor, sockets, server } = await connectedPair();
    try {
      acceptor.once('stream', (stream) => stream.reset('the tool is not answering on port 1 (ECONNREFUSED)'));
      const refused = opener.open();
      const [error] = (await once(refused, 'error').catch((e: unknown) => [e])) as [Error];
      assert.ok(error instanceof MultiplexerError);
      assert.match(error.message, /not answering on port 1/);

      acceptor.once('stream', (stream) => stream.on('error', () => undefined));
      const open = opener.open();
      const failed = once(open, 'error').catch((e: unknown) => [e]) as Promise<[Error]>;
      sockets[1]!.destroy();
      const [dropped] = await failed;
      assert.match(dropped.message, /tunnel closed/);
      assert.equal(opener.closed, true);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });

  it('answers pings, and passes events as text', async () => {
    const events = once(pair.acceptor, 'event');
    pair.opener.sendEvent('{"type":"activity","at":1}');
    assert.deepEqual(await events, ['{"type":"activity","at":1}']);
    await pair.opener.ping();
  });

  it('drops a peer that breaks the protocol', async () => {
    const { opener, sockets, server } = await connectedPair();
    try {
      const closed = once(opener, 'close');
      // a DATA frame header announcing 1 GiB
      sockets[1]!.write(Buffer.from([1, 0, 0, 0, 1, 0x40, 0, 0, 0]));
      await closed;
      assert.equal(opener.closed, true);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
