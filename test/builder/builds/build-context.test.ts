import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { readBuildContext } from '../../../src/builder/builds/build-context.ts';
import { ContainerRequestError } from '../../../src/builder/builds/container-request.ts';
import { tarOf } from '../../support/tar-archives.ts';

const limits = { maxContextBytes: 1024 * 1024, maxContextFileBytes: 512 * 1024 };
const dataUrl = (gzipped: Buffer) => `data:application/gzip;base64,${gzipped.toString('base64')}`;

async function tarWith(entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink'; content?: string; linkname?: string }>): Promise<Buffer> {
  const archive = pack();
  for (const entry of entries) archive.entry({ name: entry.name, type: entry.type ?? 'file', linkname: entry.linkname, mtime: new Date(0) }, entry.content ?? '');
  archive.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of archive) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function refused(archive: Buffer, message: RegExp): Promise<void> {
  await assert.rejects(readBuildContext({ location: dataUrl(gzipSync(archive)) }, limits), (error: unknown) => error instanceof ContainerRequestError && message.test(error.message));
}

describe('build contexts (Wave buildContext: a tar.gz in a data: URL)', () => {
  it('unpacks files with their paths, checks the digest, and fingerprints the content', async () => {
    const gzipped = gzipSync(await tarWith([{ name: './', type: 'directory' }, { name: 'app/', type: 'directory' }, { name: 'app/run.sh', content: 'echo\n' }]));
    const digest = `sha256:${createHash('sha256').update(gzipped).digest('hex')}`;
    const context = await readBuildContext({ location: dataUrl(gzipped), gzipDigest: digest }, limits);
    assert.deepEqual(context.files.map((file) => file.path), ['app/run.sh']);
    assert.match(context.digest, /^sha256:/);
    await assert.rejects(readBuildContext({ location: dataUrl(gzipped), gzipDigest: 'sha256:00' }, limits), /Build context digest mismatch/);
  });

  it('refuses escapes, links, path conflicts, oversized files and archives that are not tar.gz', async () => {
    await refused(await tarWith([{ name: '../outside', content: 'x' }]), /outside the context/);
    await refused(await tarWith([{ name: 'link', type: 'symlink', linkname: '/etc/passwd' }]), /is a symlink; only files and directories/);
    await refused(await tarWith([{ name: 'a', content: 'file' }, { name: 'a/b', content: 'under a file' }]), /"a\/b" is both a file and a directory/);
    await refused(await tarWith([{ name: 'big', content: 'x'.repeat(600 * 1024) }]), /limit per file is 524288/);
    await refused(Buffer.from('not a tar archive at all, but long enough to fill a header block '.repeat(20)), /not a tar archive/);
    await assert.rejects(readBuildContext({ location: dataUrl(Buffer.from('plain')) }, limits), /not a tar\.gz archive/);
  });

  it('stops inflating a gzip bomb at the context limit', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    await assert.rejects(readBuildContext({ location: dataUrl(bomb) }, limits), /inflates to more than/);
  });

  it('takes only data: URLs', async () => {
    const gzipped = gzipSync(await tarOf({ a: 'a' }));
    await assert.rejects(readBuildContext({ location: 'https://example.org/context.tar.gz' }, limits), /must be a base64 `data:` URL/);
    assert.equal((await readBuildContext({ location: dataUrl(gzipped) }, limits)).files.length, 1);
  });
});
