// Readers that fall behind the fill's memory window read the staged file; a wrong digest never delivers a whole blob.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { BlobFills, BlobFillMismatch, type OpenBlobSource } from '../../../src/registry/pullthrough/blob-fill.ts';
import { FsBlobStore } from '../../../src/registry/storage/fs-blob-store.ts';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as const;
const chunk = 64 * 1024;

function gatedSource(bytes: Buffer, gateAt: number) {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let opened = 0;
  const source: OpenBlobSource = async () => {
    opened++;
    return {
      size: bytes.length,
      body: (async function* () {
        for (let at = 0; at < bytes.length; at += chunk) {
          if (at === gateAt) await gate;
          yield bytes.subarray(at, at + chunk);
        }
      })(),
    };
  };
  return { source, release: open, opened: () => opened };
}

async function readAll(body: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

it('a follower joining after 12 MiB arrived gets everything from the first byte, from the staged file', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lag-'));
  try {
    const store = await FsBlobStore.open({ root });
    const fills = new BlobFills(store);
    const bytes = randomBytes(20 * 1024 * 1024);
    const digest = sha256(bytes);
    const { source, release } = gatedSource(bytes, 12 * 1024 * 1024);
    const leader = await fills.serve(digest, source, async () => {});
    const leaderDone = readAll(leader.body);
    // let the fill get to the gate (12 MiB received and staged)
    await new Promise((r) => setTimeout(r, 300));
    const follower = await fills.serve(digest, source, async () => {});
    const followerDone = readAll(follower.body);
    await new Promise((r) => setTimeout(r, 100));
    release();
    assert.ok((await followerDone).equals(bytes));
    assert.ok((await leaderDone).equals(bytes));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

it('a reader that pauses while the fill stages resumes from the staged file, and a mismatch still fails it', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lag-'));
  try {
    const store = await FsBlobStore.open({ root });
    const fills = new BlobFills(store);
    const bytes = randomBytes(16 * 1024 * 1024);
    const wrong = sha256(randomBytes(10));
    const { source, release } = gatedSource(bytes, 14 * 1024 * 1024);
    const served = await fills.serve(wrong, source, async () => {});
    const first = await new Promise<Buffer>((r) => served.body.once('data', r));
    served.body.pause();
    await new Promise((r) => setTimeout(r, 300)); // the fill runs 14 MiB ahead
    const parts: Buffer[] = [first];
    let got = first.length;
    const done = (async () => { for await (const c of served.body) { parts.push(c as Buffer); got += (c as Buffer).length; } })();
    release();
    await assert.rejects(done, BlobFillMismatch);
    assert.ok(got < bytes.length, `the reader never holds the whole blob of a wrong digest (${got} of ${bytes.length})`);
    assert.ok(Buffer.concat(parts).equals(bytes.subarray(0, got)), 'what it got is the upstream bytes in order');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

it('a paused reader (during staging) resumes from disk and gets the right bytes', async () => {
  const root = await mkdtemp(join(tmpdir(), 'lag-'));
  try {
    const store = await FsBlobStore.open({ root });
    const fills = new BlobFills(store);
    const bytes = randomBytes(16 * 1024 * 1024);
    const digest = sha256(bytes);
    const { source, release } = gatedSource(bytes, 14 * 1024 * 1024);
    const served = await fills.serve(digest, source, async () => {});
    const first = await new Promise<Buffer>((r) => served.body.once('data', r));
    served.body.pause();
    await new Promise((r) => setTimeout(r, 300));
    const rest = readAll(served.body);
    await new Promise((r) => setTimeout(r, 50));
    release();
    assert.ok(Buffer.concat([first, await rest]).equals(bytes));
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
