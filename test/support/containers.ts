import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from './processes.ts';

/**
 * Helpers for driving the real container clients (skopeo, buildah, podman) against a test
 * registry. Every client keeps its state under a directory the test owns, so tests neither see
 * nor disturb the machine's images, containers or logins.
 */

type RunOptions = NonNullable<Parameters<typeof run>[2]>;

/** A fresh temporary directory; remove it with `removeDir` in an `after` hook. */
export function scratchDir(purpose: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-e2e-${purpose}-`));
}

export function removeDir(dir: string | undefined): Promise<void> {
  return dir ? rm(dir, { recursive: true, force: true }) : Promise.resolve();
}

/** `user:token` for the clients' `--creds` flag. */
export function creds(user: string, token: string): string {
  return `${user}:${token}`;
}

export function skopeo(args: string[], options?: RunOptions): Promise<RunResult> {
  return run('skopeo', args, options);
}

/**
 * Replaces the machine's containers.conf: file locks (kept under `--tmpdir`) instead of a shared
 * memory segment in /dev/shm, and events in a file instead of the journal.
 */
const engineConfig = '[engine]\nlock_type = "file"\nevents_logger = "file"\n';

/**
 * containers/storage for buildah and podman in a directory of its own: the vfs driver needs no
 * kernel overlay support and leaves no mounts behind, so removing the directory cleans up.
 */
export class ContainerStorage {
  private constructor(readonly dir: string) {}

  static async create(purpose: string): Promise<ContainerStorage> {
    const storage = new ContainerStorage(await scratchDir(purpose));
    await mkdir(storage.path('tmp'));
    await writeFile(storage.path('containers.conf'), engineConfig);
    return storage;
  }

  /** A file path inside this storage's directory (authfiles, build contexts, digest files). */
  path(name: string): string {
    return join(this.dir, name);
  }

  buildah(args: string[], options?: RunOptions): Promise<RunResult> {
    return run('buildah', [...this.storageFlags(), ...args], this.withConfig(options));
  }

  /** podman also keeps its locks, events and runtime state under this directory (`--tmpdir`). */
  podman(args: string[], options?: RunOptions): Promise<RunResult> {
    return run('podman', [...this.storageFlags(), '--tmpdir', this.path('tmp'), ...args], this.withConfig(options));
  }

  remove(): Promise<void> {
    return removeDir(this.dir);
  }

  private withConfig(options: RunOptions = {}): RunOptions {
    return { ...options, env: { ...process.env, ...options.env, CONTAINERS_CONF: this.path('containers.conf') } };
  }

  private storageFlags(): string[] {
    return ['--root', this.path('root'), '--runroot', this.path('runroot'), '--storage-driver', 'vfs'];
  }
}

/**
 * A build context for a tiny image that runs without any base image: the static busybox, its
 * applets installed as symlinks, and a file whose content tests look for after a pull.
 */
export async function writeBusyboxContext(dir: string, marker: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await copyFile('/bin/busybox', join(dir, 'busybox'));
  await writeFile(join(dir, 'marker.txt'), `${marker}\n`);
  await writeFile(
    join(dir, 'Dockerfile'),
    [
      'FROM scratch',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      'COPY marker.txt /marker.txt',
      'ENV PATH=/bin',
      'CMD ["/bin/sh"]',
      '',
    ].join('\n'),
  );
  return dir;
}

/** `sha256:<hex>` of a file's content, streamed. */
export async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

export function textDigest(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}
