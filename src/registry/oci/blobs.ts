import { parseDigest } from '../digest.ts';
import { OciError } from './errors.ts';
import type { OciContext } from './context.ts';
import type { ByteRange } from '../storage/blob-store.ts';

/** GET and HEAD /v2/<name>/blobs/<digest>, with single `Range: bytes=` requests. */
export async function getBlob(ctx: OciContext): Promise<void> {
  const { registry } = ctx.services;
  const digest = parseDigest(ctx.param);
  const repository = await registry.existing(ctx.name);
  const size = await registry.blobSize(repository, digest);
  const range = parseRange(ctx.req.headers.range, size);
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest,
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
    'Cache-Control': 'max-age=31536000',
  };
  if (range) {
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
  }
  const length = range ? range.end - range.start + 1 : size;
  ctx.res.writeHead(range ? 206 : 200, { ...headers, 'Content-Length': length });
  if (ctx.req.method === 'HEAD') {
    ctx.res.end();
    return;
  }
  try {
    await registry.sendBlob(repository, digest, ctx.res, range, ctx.signal);
  } catch (error) {
    if (ctx.signal.aborted) return;
    throw error;
  }
  ctx.res.end();
}

/** DELETE /v2/<name>/blobs/<digest>: the repository stops serving it. */
export async function deleteBlob(ctx: OciContext): Promise<void> {
  const { registry } = ctx.services;
  const repository = await registry.existing(ctx.name);
  await registry.deleteBlob(repository, parseDigest(ctx.param));
  ctx.res.writeHead(202, { 'Content-Length': 0 });
  ctx.res.end();
}

/** One satisfiable range of a `Range: bytes=…` header, undefined for none; 416 when unsatisfiable. */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined; // multiple or odd ranges: send it all
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    start = Math.max(0, size - suffix);
    end = size - 1;
    if (suffix === 0) throw unsatisfiable(size);
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start > end || start >= size) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): OciError {
  return new OciError('BLOB_UNKNOWN', 'requested range not satisfiable', { size }, 416, { 'Content-Range': `bytes */${size}` });
}
