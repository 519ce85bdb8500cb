import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { Digest } from '../../registry/digest.ts';
import { AugmentError } from './augment-errors.ts';

/** A layer blob as a manifest and a config name it. */
export interface LayerBlob {
  /** Digest of the blob as stored (compressed when `compressed`). */
  digest: Digest;
  size: number;
  /** Digest of the uncompressed tar: the config's `rootfs.diff_ids` entry. */
  diffId: Digest;
  /** gzip-compressed (`…tar+gzip`), or a plain tar. */
  compressed: boolean;
}

const tarBlock = 512;
const gzipMagic = [0x1f, 0x8b];
const zstdMagic = [0x28, 0xb5, 0x2f, 0xfd];

/** What the first bytes of a layer say it is. */
export function sniffLayer(head: Buffer): 'gzip' | 'tar' {
  if (startsWith(head, gzipMagic)) return 'gzip';
  if (startsWith(head, zstdMagic)) throw new AugmentError('LayerInvalid', 'the layer is zstd-compressed; give a tar or a gzip-compressed tar');
  return 'tar';
}

/**
 * Turns a layer given as a tar or a tar+gzip stream into gzip bytes, hashing both forms on the way
 * in one pass: a plain tar is compressed, a gzip stream passes through untouched (and is inflated
 * only to hash it). The uncompressed stream must start with a valid tar header (or be an empty
 * archive), else the stream fails with AugmentError('LayerInvalid'). Use once: iterate `encode`
 * to the end, then read `result()`.
 */
export class LayerEncoder {
  private readonly compressedHash = createHash('sha256');
  private readonly uncompressedHash = createHash('sha256');
  private compressedSize = 0;
  private uncompressedSize = 0;
  private readonly header: Buffer[] = [];
  private headerVerified = false;
  private encoded?: LayerBlob;

  async *encode(source: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
    const { head, rest } = await splitHead(source, gzipMagic.length);
    if (sniffLayer(head) === 'gzip') yield* this.passGzip(rest);
    else yield* this.compressTar(rest);
    this.checkTarHeader(true);
    this.encoded = {
      digest: `sha256:${this.compressedHash.digest('hex')}`,
      size: this.compressedSize,
      diffId: `sha256:${this.uncompressedHash.digest('hex')}`,
      compressed: true,
    };
  }

  /** The digests and size, once `encode` has been iterated to its end. */
  result(): LayerBlob {
    if (!this.encoded) throw new Error('LayerEncoder.result() before the layer was fully encoded');
    return this.encoded;
  }

  private async *compressTar(tar: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const gzip = createGzip();
    const feeding = pipeline(Readable.from(this.tapUncompressed(tar)), gzip);
    try {
      for await (const chunk of gzip) yield this.tapCompressed(chunk as Buffer);
      await feeding;
    } finally {
      gzip.destroy();
      feeding.catch(() => undefined);
    }
  }

  private async *passGzip(gzipped: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    const gunzip = createGunzip();
    const inflating = pipeline(gunzip, new Writable({ write: (chunk: Buffer, _encoding, done) => done(this.hashUncompressed(chunk)) }));
    try {
      for await (const chunk of gzipped) {
        if (!gunzip.write(chunk)) await Promise.race([once(gunzip, 'drain'), inflating]);
        yield this.tapCompressed(chunk);
      }
      gunzip.end();
      await inflating;
    } catch (error) {
      throw isZlibError(error) ? new AugmentError('LayerInvalid', `the layer is not valid gzip: ${(error as Error).message}`) : error;
    } finally {
      gunzip.destroy();
      inflating.catch(() => undefined);
    }
  }

  private async *tapUncompressed(tar: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of tar) {
      const error = this.hashUncompressed(chunk);
      if (error) throw error;
      yield chunk;
    }
  }

  /** Hashes uncompressed bytes and checks the tar header once its first block is in; returns the refusal, if any. */
  private hashUncompressed(chunk: Buffer): Error | null {
    this.uncompressedHash.update(chunk);
    if (this.uncompressedSize < tarBlock) this.header.push(chunk);
    this.uncompressedSize += chunk.length;
    try {
      this.checkTarHeader(false);
      return null;
    } catch (error) {
      return error as Error;
    }
  }

  private tapCompressed(chunk: Buffer): Buffer {
    this.compressedHash.update(chunk);
    this.compressedSize += chunk.length;
    return chunk;
  }

  private checkTarHeader(atEnd: boolean): void {
    if (this.headerVerified) return;
    if (this.uncompressedSize < tarBlock) {
      if (atEnd) throw new AugmentError('LayerInvalid', `the layer is not a tar archive: only ${this.uncompressedSize} bytes`);
      return;
    }
    const block = Buffer.concat(this.header).subarray(0, tarBlock);
    this.header.length = 0;
    if (!isTarHeader(block)) throw new AugmentError('LayerInvalid', 'the layer is not a tar archive (its first block is not a tar header)');
    this.headerVerified = true;
  }
}

/**
 * Whether a 512-byte block is a tar header: its checksum (the sum of its bytes, the checksum field
 * counted as spaces) matches, which holds for ustar, GNU and old v7 archives. An all-zero block is an
 * empty archive's end marker.
 */
export function isTarHeader(block: Buffer): boolean {
  if (block.length < tarBlock) return false;
  if (block.every((byte) => byte === 0)) return true;
  const recorded = parseInt(block.subarray(148, 156).toString('ascii').replace(/\0.*$/s, '').trim(), 8);
  if (!Number.isInteger(recorded)) return false;
  let sum = 0;
  for (let i = 0; i < tarBlock; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === recorded;
}

/** Reads at least `bytes` bytes (unless the source ends first); `rest` yields everything, head included. */
export async function splitHead(source: AsyncIterable<Uint8Array>, bytes: number): Promise<{ head: Buffer; rest: AsyncIterable<Buffer> }> {
  const iterator = source[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let length = 0;
  let ended = false;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    chunks.push(chunk);
    length += chunk.length;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* chunks;
    if (ended) return;
    for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
      yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
  }
  return { head: Buffer.concat(chunks), rest: rest() };
}

function startsWith(bytes: Buffer, magic: number[]): boolean {
  return magic.every((byte, i) => bytes[i] === byte);
}

function isZlibError(error: unknown): boolean {
  return typeof (error as { code?: unknown })?.code === 'string' && (error as { code: string }).code.startsWith('Z_');
}
