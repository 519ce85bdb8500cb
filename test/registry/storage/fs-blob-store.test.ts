import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { FsBlobStore } from '../../../src/registry/storage/fs-blob-store.ts';
import { blobStoreContract } from './blob-store.contract.ts';

blobStoreContract('filesystem', {
  async open() {
    const root = await mkdtemp(join(tmpdir(), 'berth-fs-store-'));
    return {
      store: await FsBlobStore.open({ root }),
      reopen: () => FsBlobStore.open({ root }),
      cleanup: () => rm(root, { recursive: true, force: true }),
    };
  },
});

it('refuses a blob store written in another layout version', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-fs-store-'));
  try {
    await writeFile(join(root, 'layout-version'), '99');
    await assert.rejects(FsBlobStore.open({ root }), /layout version 99/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
