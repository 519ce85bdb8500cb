import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { AugmentError } from '../../../src/builder/augment/augment-errors.ts';
import { isTarHeader, LayerEncoder } from '../../../src/builder/augment/layer-encoding.ts';
import { tarOf } from '../../support/tar-archives.ts';

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/** Feeds `bytes` in small chunks (to cross the header and magic boundaries) and collects the encoded output. */
async function encode(bytes: Buffer, chunkSize = 100): Promise<{ output: Buffer; encoder: LayerEncoder }> {
  const encoder = new LayerEncoder();
  async function* chunks() {
    for (let i = 0; i < bytes.length; i += chunkSize) yield bytes.subarray(i, i + chunkSize);
  }
  const out: Buffer[] = [];
  for await (const chunk of encoder.encode(chunks())) out.push(chunk);
  return { output: Buffer.concat(out), encoder };
}

const layerInvalid = (pattern: RegExp) => (error: unknown) => error instanceof AugmentError && error.kind === 'LayerInvalid' && pattern.test(error.message);

describe('LayerEncoder', () => {
  it('gzips a plain tar, with the diffID of the tar and the digest of the gzip bytes', async () => {
    const tar = await tarOf({ 'etc/motd': 'hello\n' });
    const { output, encoder } = await encode(tar);
    assert.deepEqual(gunzipSync(output), tar);
    assert.deepEqual(encoder.result(), { digest: sha256(output), size: output.length, diffId: sha256(tar), compressed: true });
  });

  it('passes a tar+gzip through byte for byte, inflating it only to compute the diffID', async () => {
    const tar = await tarOf({ 'opt/agent': 'agent\n' });
    const gzipped = gzipSync(tar, { level: 9 });
    const { output, encoder } = await encode(gzipped, 7);
    assert.deepEqual(output, gzipped);
    assert.deepEqual(encoder.result(), { digest: sha256(gzipped), size: gzipped.length, diffId: sha256(tar), compressed: true });
  });

  it('accepts an empty archive (end-of-archive blocks only)', async () => {
    const empty = Buffer.alloc(1024);
    const { encoder } = await encode(empty);
    assert.equal(encoder.result().diffId, sha256(empty));
  });

  it('refuses bytes that are not a tar, plain or gzipped, short or long', async () => {
    await assert.rejects(encode(Buffer.from('not a tar archive at all\n'.repeat(100))), layerInvalid(/first block is not a tar header/));
    await assert.rejects(encode(gzipSync(Buffer.from('#!/bin/sh\n'.repeat(100)))), layerInvalid(/not a tar header/));
    await assert.rejects(encode(Buffer.from('tiny')), layerInvalid(/only 4 bytes/));
    await assert.rejects(encode(Buffer.alloc(0)), layerInvalid(/only 0 bytes/));
  });

  it('refuses a truncated gzip stream and a zstd stream', async () => {
    const gzipped = gzipSync(await tarOf({ a: 'b'.repeat(5000) }));
    await assert.rejects(encode(gzipped.subarray(0, gzipped.length - 20)), layerInvalid(/not valid gzip/));
    await assert.rejects(encode(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0])), layerInvalid(/zstd/));
  });

  it('result() before the stream was consumed is a programming error', () => {
    assert.throws(() => new LayerEncoder().result(), /before the layer was fully encoded/);
  });
});

describe('isTarHeader', () => {
  it('checks the header checksum, which ustar, GNU and v7 headers all carry', async () => {
    const header = (await tarOf({ 'file': 'x' })).subarray(0, 512);
    assert.equal(isTarHeader(header), true);
    const corrupted = Buffer.from(header);
    corrupted[0] = corrupted[0]! ^ 0xff;
    assert.equal(isTarHeader(corrupted), false);
    assert.equal(isTarHeader(Buffer.alloc(512)), true, 'an all-zero block ends an (empty) archive');
    assert.equal(isTarHeader(Buffer.alloc(100)), false);
  });
});
