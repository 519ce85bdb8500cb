import { createHash } from 'node:crypto';
import { mkdir, writeFile, chmod } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { createGunzip, gzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import { contextDigest, ContainerRequestError, type BuildContextInput, type ContextFile } from './container-request.ts';

export interface ContextLimits {
  maxContextBytes: number;
  maxContextFileBytes: number;
}

const maxEntries = 10_000;

/**
 * Decodes Wave's `buildContext` — a tar.gz inline as a `data:` URL, as Nextflow sends it — into files,
 * checking its digest, the size limits, and that every path stays inside the context. Only regular files
 * and directories are accepted: a link could point outside the context on the build host.
 */
export async function readBuildContext(input: BuildContextInput, limits: ContextLimits): Promise<{ files: ContextFile[]; digest: string }> {
  const match = /^data:[^,]*?(;base64)?,(.*)$/s.exec(input.location);
  if (!match?.[1]) throw new ContainerRequestError('Attribute `buildContext.location` must be a base64 `data:` URL of a tar.gz archive');
  const archive = Buffer.from(match[2]!, 'base64');
  if (input.gzipDigest) {
    const actual = `sha256:${createHash('sha256').update(archive).digest('hex')}`;
    if (actual !== input.gzipDigest) throw new ContainerRequestError(`Build context digest mismatch - expected ${input.gzipDigest} but got ${actual}`);
  }
  const files = await unpack(archive, limits);
  return { files, digest: contextDigest(files) };
}

async function unpack(archive: Buffer, limits: ContextLimits): Promise<ContextFile[]> {
  const files = new Map<string, ContextFile>();
  const directories = new Set<string>();
  let total = 0;
  let entries = 0;
  const tar = extract();
  const done = new Promise<void>((resolve, reject) => {
    tar.on('entry', (header, stream, next) => {
      // Destroying the archive destroys its entries with the same error, which the archive's listener reports.
      stream.on('error', () => undefined);
      const fail = (message: string) => {
        stream.resume();
        tar.destroy(new ContainerRequestError(`Invalid build context: ${message}`));
      };
      if (++entries > maxEntries) return fail(`more than ${maxEntries} entries`);
      const path = safePath(header.name);
      if (header.type === 'directory' && posix.normalize(header.name).replace(/\/$/, '') === '.') {
        stream.resume();
        return next();
      }
      if (path === undefined) return fail(`entry "${header.name.slice(0, 200)}" is outside the context`);
      if (header.type === 'directory') {
        if (files.has(path)) return fail(`"${path}" is both a file and a directory`);
        directories.add(path);
        stream.resume();
        return next();
      }
      if (header.type !== 'file') return fail(`entry "${path}" is a ${header.type}; only files and directories are allowed`);
      const parents = ancestorsOf(path);
      if (directories.has(path) || parents.some((parent) => files.has(parent))) return fail(`"${path}" is both a file and a directory`);
      for (const parent of parents) directories.add(parent);
      const size = header.size ?? 0;
      if (size > limits.maxContextFileBytes) return fail(`file "${path}" is ${size} bytes; the limit per file is ${limits.maxContextFileBytes}`);
      total += size;
      if (total > limits.maxContextBytes) return fail(`the files add up to more than ${limits.maxContextBytes} bytes`);
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => chunks.push(chunk as Buffer));
      stream.on('end', () => {
        files.set(path, { path, content: Buffer.concat(chunks), mode: (header.mode ?? 0o644) & 0o111 ? 0o755 : 0o644 });
        next();
      });
    });
    tar.on('finish', resolve);
    tar.on('error', (error) => reject(error instanceof ContainerRequestError ? error : new ContainerRequestError(`Invalid build context: not a tar archive (${error.message})`)));
  });
  const gunzip = createGunzip();
  gunzip.on('error', (error) => tar.destroy(new ContainerRequestError(`Invalid build context: not a tar.gz archive (${error.message})`)));
  // The limit on what inflating may produce: the files, plus a generous allowance for tar headers and padding.
  const maxInflated = limits.maxContextBytes + (maxEntries + 2) * 1024;
  let inflated = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      inflated += chunk.length;
      if (inflated > maxInflated) return callback(new ContainerRequestError(`Invalid build context: it inflates to more than ${maxInflated} bytes`));
      callback(null, chunk);
    },
  });
  cap.on('error', (error) => tar.destroy(error));
  Readable.from([archive]).pipe(gunzip).pipe(cap).pipe(tar);
  await done;
  return [...files.values()];
}

/** The normalised relative path of an archive entry, or undefined when it escapes (or is) the root. */
function safePath(name: string): string | undefined {
  const normal = posix.normalize(name.replace(/^\.\/+/, '')).replace(/\/$/, '');
  if (normal === '' || normal === '.' || normal.startsWith('/') || normal === '..' || normal.startsWith('../') || normal.includes('\0')) return undefined;
  return normal;
}

function ancestorsOf(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** The other direction: a tar archive as Wave's clients send a context (gzipped, in a `data:` URL, with its digest). */
export function inlineBuildContext(tar: Buffer): Required<BuildContextInput> {
  const gzipped = gzipSync(tar);
  return { location: `data:application/gzip;base64,${gzipped.toString('base64')}`, gzipDigest: `sha256:${createHash('sha256').update(gzipped).digest('hex')}` };
}

/** Writes context files (already checked by `safePath`) below `dir`. */
export async function writeContext(dir: string, files: readonly ContextFile[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const file of files) {
    const target = join(dir, file.path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.content);
    await chmod(target, file.mode);
  }
}
