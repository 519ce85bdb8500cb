import type { ServerResponse } from 'node:http';
import { once } from 'node:events';
import { StringDecoder } from 'node:string_decoder';

/**
 * Streams text pieces as they come, as `text/plain` or as server-sent events (one `data:` line per line
 * of text, then a final event). Respects backpressure and stops when the client goes away.
 */
export async function streamText(
  res: ServerResponse,
  pieces: AsyncIterable<Buffer>,
  options: { events: boolean; final?: () => Promise<{ event: string; data: unknown }> },
): Promise<void> {
  res.writeHead(200, {
    'Content-Type': options.events ? 'text/event-stream; charset=utf-8' : 'text/plain; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const decoder = new StringDecoder('utf8');
  let partial = '';
  for await (const piece of pieces) {
    if (res.destroyed) return;
    let out: string | Buffer = piece;
    if (options.events) {
      const lines = (partial + decoder.write(piece)).split('\n');
      partial = lines.pop() ?? '';
      out = lines.map((line) => `data: ${line.replace(/\r$/, '')}\n\n`).join('');
    }
    if (out.length && !res.write(out)) {
      const drained = await once(res, 'drain', { signal: gone.signal }).then(() => true, () => false);
      if (!drained) return;
    }
  }
  if (options.events) {
    if (partial) res.write(`data: ${partial}\n\n`);
    const final = await options.final?.();
    if (final) res.write(`event: ${final.event}\ndata: ${JSON.stringify(final.data)}\n\n`);
  }
  res.end();
}
