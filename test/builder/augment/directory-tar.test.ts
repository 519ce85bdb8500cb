import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AugmentError } from '../../../src/builder/augment/augment-errors.ts';
import { packDirectory } from '../../../src/builder/augment/directory-tar.ts';
import { checkLayerInputs } from '../../../src/builder/augment/layer-inputs.ts';
import { removeDir, scratchDir } from '../../support/containers.ts';
import { run } from '../../support/processes.ts';

async function packed(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of packDirectory(dir)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('packDirectory', () => {
  let scratch: string;
  let tree: string;

  before(async () => {
    scratch = await scratchDir('directory-tar');
    tree = join(scratch, 'tree');
    await mkdir(join(tree, 'opt/berth/bin'), { recursive: true });
    await writeFile(join(tree, 'opt/berth/bin/agent'), '#!/bin/sh\necho agent\n');
    await chmod(join(tree, 'opt/berth/bin/agent'), 0o755);
    await writeFile(join(tree, 'opt/berth/README'), 'read me\n');
    await writeFile(join(tree, 'Zeta'), 'capital letters sort first\n');
    await symlink('berth/bin/agent', join(tree, 'opt/agent'));
  });
  after(() => removeDir(scratch));

  it('writes a tar that GNU tar lists in byte order, owned by root, with fixed times and kept modes', async () => {
    const archive = join(scratch, 'layer.tar');
    await writeFile(archive, await packed(tree));
    const listing = (await run('tar', ['--list', '--verbose', '--numeric-owner', '--full-time', '--file', archive])).stdout.trim().split('\n');
    assert.deepEqual(
      listing.map((line) => line.split(/\s+/).slice(5).join(' ')),
      ['Zeta', 'opt/', 'opt/agent -> berth/bin/agent', 'opt/berth/', 'opt/berth/README', 'opt/berth/bin/', 'opt/berth/bin/agent'],
    );
    for (const line of listing) {
      const [mode, owner, , date] = line.split(/\s+/);
      assert.equal(owner, '0/0', line);
      assert.equal(date, '1970-01-01', line);
      if (line.endsWith(' opt/berth/bin/agent')) assert.equal(mode, '-rwxr-xr-x');
    }
    const extracted = join(scratch, 'extracted');
    await mkdir(extracted);
    await run('tar', ['--extract', '--file', archive, '--directory', extracted]);
    assert.equal((await run('cat', [join(extracted, 'opt/agent')])).stdout, '#!/bin/sh\necho agent\n');
  });

  it('packs the same files into the same bytes whatever their modification times', async () => {
    const first = await packed(tree);
    await utimes(join(tree, 'opt/berth/README'), new Date('2030-01-01'), new Date('2030-01-01'));
    await utimes(join(tree, 'opt/berth'), new Date('2031-01-01'), new Date('2031-01-01'));
    assert.equal(sha256(await packed(tree)), sha256(first));
  });

  it('refuses a FIFO, naming it', async () => {
    const odd = join(scratch, 'odd');
    await mkdir(odd);
    await run('mkfifo', [join(odd, 'pipe')]);
    await assert.rejects(packed(odd), (error: unknown) => error instanceof AugmentError && error.kind === 'LayerInvalid' && error.message.includes('pipe'));
  });
});

describe('checkLayerInputs', () => {
  it('refuses a missing path, and a file given as a directory, before anything is written', async () => {
    const notFound = (pattern: RegExp) => (error: unknown) => error instanceof AugmentError && error.kind === 'LayerNotFound' && pattern.test(error.message);
    await assert.rejects(checkLayerInputs([{ kind: 'directory', path: '/nonexistent/berth-layer' }]), notFound(/\/nonexistent\/berth-layer does not exist/));
    await assert.rejects(checkLayerInputs([{ kind: 'directory', path: '/bin/busybox' }]), notFound(/is not a directory/));
    await assert.rejects(checkLayerInputs([{ kind: 'tar', path: '/tmp' }]), notFound(/is not a file/));
  });
});
