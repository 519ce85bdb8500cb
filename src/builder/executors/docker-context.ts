import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/**
 * The name the Dockerfile travels under inside the build context (the Engine API reads it from the tar).
 * A file of the same name in the context is replaced by it.
 */
export const CONTEXT_DOCKERFILE = '.berth-build.Dockerfile';
const DOCKERIGNORE = '.dockerignore';

/**
 * Streams `contextDir` as the tar the Engine API's `POST /build` takes, with the job's Dockerfile added under
 * CONTEXT_DOCKERFILE. The tar also carries a `.dockerignore` naming only that Dockerfile and itself: the
 * classic builder then drops both from what COPY/ADD see, so a `COPY . /app` copies exactly `contextDir`
 * without a `.dockerignore` (as the buildah executor does). The engine applies no other ignore rule, and
 * neither does this function: the service has already applied them.
 *
 * Regular files, directories and symbolic links are sent, with their permission bits and modification times,
 * owned by root; anything else (sockets, devices) is left out.
 */
export function contextTar(contextDir: string, dockerfile: string): Readable {
  const pack = tar.pack();
  fill(pack, contextDir, dockerfile).then(
    () => pack.finalize(),
    (error: Error) => pack.destroy(error),
  );
  // tar-stream's streams are streamx streams; node:http wants a node stream.
  return Readable.from(pack, { objectMode: false });
}

async function fill(pack: tar.Pack, contextDir: string, dockerfile: string): Promise<void> {
  const reserved = new Set([CONTEXT_DOCKERFILE, DOCKERIGNORE]);
  const mtime = new Date();
  pack.entry({ name: CONTEXT_DOCKERFILE, mode: 0o644, mtime, uid: 0, gid: 0 }, dockerfile);
  pack.entry({ name: DOCKERIGNORE, mode: 0o644, mtime, uid: 0, gid: 0 }, `${CONTEXT_DOCKERFILE}\n${DOCKERIGNORE}\n`);
  await addDirectory(pack, contextDir, '', reserved);
}

async function addDirectory(pack: tar.Pack, root: string, relative: string, reserved: ReadonlySet<string>): Promise<void> {
  const entries = await readdir(join(root, relative));
  entries.sort();
  for (const name of entries) {
    const path = relative === '' ? name : `${relative}/${name}`;
    if (relative === '' && reserved.has(name)) continue;
    const full = join(root, path);
    const stats = await lstat(full);
    const header = { name: path, mode: stats.mode & 0o7777, mtime: stats.mtime, uid: 0, gid: 0 };
    if (stats.isDirectory()) {
      pack.entry({ ...header, type: 'directory' });
      await addDirectory(pack, root, path, reserved);
    } else if (stats.isSymbolicLink()) {
      pack.entry({ ...header, type: 'symlink', linkname: await readlink(full) });
    } else if (stats.isFile()) {
      const entry = pack.entry({ ...header, type: 'file', size: stats.size });
      await pipeline(createReadStream(full), entry);
    }
  }
}
