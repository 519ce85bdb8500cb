import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack, type Header, type Pack } from 'tar-stream';

type HeaderArgument = Partial<Header> & Pick<Header, 'name'>;
import { AugmentError } from './augment-errors.ts';

/**
 * Every entry's modification time: fixed, so that the same files always make the same layer
 * (and so the same digest), whenever and wherever they were checked out.
 */
export const layerEntryMtime = new Date(0);

/**
 * A tar stream of a directory's contents, rooted at `/` of the image (`dir/opt/x` becomes `/opt/x`).
 * Reproducible: entries in byte order of their paths, fixed mtimes, owner root (uid/gid 0, no
 * names), permission bits kept. Regular files, directories and symbolic links only; anything else
 * fails the stream with AugmentError('LayerInvalid'). Hard links are stored as separate files.
 */
export function packDirectory(dir: string): AsyncIterable<Buffer> {
  const tar = pack();
  addTree(tar, dir, '').then(
    () => tar.finalize(),
    (error: unknown) => tar.destroy(error as Error),
  );
  // tar-stream's readable (a streamx stream) yields Buffers; its types say unknown.
  return tar as AsyncIterable<Buffer>;
}

async function addTree(tar: Pack, root: string, relative: string): Promise<void> {
  const names = (await readdir(join(root, relative))).sort(byteOrder);
  for (const name of names) {
    const path = relative ? `${relative}/${name}` : name;
    const full = join(root, path);
    const stat = await lstat(full);
    const common: HeaderArgument = { name: path, mode: stat.mode & 0o7777, mtime: layerEntryMtime, uid: 0, gid: 0, uname: '', gname: '' };
    if (stat.isDirectory()) {
      await addEntry(tar, { ...common, name: `${path}/`, type: 'directory' });
      await addTree(tar, root, path);
    } else if (stat.isSymbolicLink()) {
      await addEntry(tar, { ...common, type: 'symlink', linkname: await readlink(full) });
    } else if (stat.isFile()) {
      await pipeline(createReadStream(full), tar.entry({ ...common, type: 'file', size: stat.size }));
    } else {
      throw new AugmentError('LayerInvalid', `${full} is neither a file, a directory nor a symbolic link`);
    }
  }
}

function addEntry(tar: Pack, header: HeaderArgument): Promise<void> {
  return new Promise((resolve, reject) => tar.entry(header, (error) => (error ? reject(error) : resolve())));
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
