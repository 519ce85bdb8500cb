import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ExecutorUnavailable,
  FAILURE_TAIL_LINES,
  formatPlatform,
  type BuildExecutor,
  type BuildJob,
  type BuildResult,
  type RegistryLogin,
} from './build-executor.ts';
import { BuildOutput } from './build-output.ts';
import { runProcessGroup } from './process-group.ts';
import { checkLogins, parsePushTarget } from './push-target.ts';

export interface BuildahExecutorOptions {
  /** The executor's own directory: container storage (unless `storage` says otherwise) and per-build scratch space. */
  stateDir: string;
  /** The buildah executable; default `buildah` on PATH. */
  binary?: string;
  /** containers/storage for this executor alone; defaults `<stateDir>/storage/{root,runroot}` with the vfs driver. */
  storage?: { root?: string; runroot?: string; driver?: string };
  /** After an abort, how long buildah may take to remove its containers before it is killed; default 10 s. */
  stopGraceMs?: number;
  /** Lines of output kept in a failure report; default FAILURE_TAIL_LINES. */
  failureTailLines?: number;
}

/** Local names of the images this executor builds; anything under it in the storage is the executor's own. */
const LOCAL_IMAGE_PREFIX = 'localhost/berth-build/';

/**
 * Builds with `buildah bud --isolation=chroot` (no daemon, no OCI runtime: the host's cgroup setup does not
 * matter) and pushes with `buildah push`.
 *
 * - Credentials go into a 0600 authfile in the build's scratch directory, never on a command line; insecure
 *   registries go into a registries.conf of the build's own. buildah sees a clean environment whose HOME and
 *   TMPDIR are that directory, so the host's logins are never used and nothing lands in /var/tmp.
 * - `--pull=always`: a base image already in the storage is fetched again, so a build can never use a
 *   private base it has no login for because an earlier build pulled it.
 * - No `--layers`: only the final image is committed; it gets a unique local name and is removed after the
 *   push. Base images stay in the storage (nothing prunes them yet).
 * - The storage belongs to this executor alone: the sweep removes every container in it.
 * - The Dockerfile lives outside the context; `.dockerignore` in the context is not applied (the service has
 *   already applied ignore rules: the context is exactly what the build id was computed from) and is itself
 *   left out, as the docker executor leaves it out.
 * - Abort: SIGTERM to the process group (buildah removes its containers), SIGKILL after a grace period; a
 *   killed build leaves containers behind, which the storage sweep removes as soon as no build runs.
 */
export class BuildahExecutor implements BuildExecutor {
  readonly name = 'buildah';
  private readonly binary: string;
  private readonly storageFlags: string[];
  private readonly scratchRoot: string;
  private readonly stopGraceMs: number;
  private readonly failureTailLines: number;
  private running = 0;
  /** Unknown at start (a previous process may have died mid-build), and again after a build had to be killed. */
  private needsSweep = true;
  private sweeping: Promise<void> | undefined;

  constructor(options: BuildahExecutorOptions) {
    this.binary = options.binary ?? 'buildah';
    const storage = options.storage ?? {};
    this.storageFlags = [
      '--root', storage.root ?? join(options.stateDir, 'storage', 'root'),
      '--runroot', storage.runroot ?? join(options.stateDir, 'storage', 'runroot'),
      '--storage-driver', storage.driver ?? 'vfs',
    ];
    this.scratchRoot = join(options.stateDir, 'builds');
    this.stopGraceMs = options.stopGraceMs ?? 10_000;
    this.failureTailLines = options.failureTailLines ?? FAILURE_TAIL_LINES;
  }

  async check(): Promise<void> {
    let output = '';
    const exit = await this.buildah(['info'], (chunk) => (output += chunk), AbortSignal.timeout(60_000), process.env);
    if (exit.code !== 0) throw new ExecutorUnavailable(`buildah info exited with code ${exit.code}: ${output.trim().slice(-2000)}`);
  }

  async build(job: BuildJob, log: (chunk: string) => void, signal: AbortSignal): Promise<BuildResult> {
    signal.throwIfAborted();
    parsePushTarget(job.target);
    checkLogins(job.logins);
    await this.enter();
    const localName = `${LOCAL_IMAGE_PREFIX}${slug(job.id)}-${randomBytes(4).toString('hex')}`;
    let scratchDir: string | undefined;
    try {
      signal.throwIfAborted();
      const scratch = await writeScratch(this.scratchRoot, job);
      scratchDir = scratch.dir;
      const output = new BuildOutput(log, job.logins, { tailLines: this.failureTailLines });
      const run = async (args: string[], what: string): Promise<void> => {
        const exit = await this.buildah(args, (chunk) => output.write(chunk), signal, scratch.env);
        if (exit.killed) this.needsSweep = true;
        signal.throwIfAborted();
        if (exit.code !== 0) throw output.failure({ fallback: exit.code === null ? `${what} was ended by a signal` : `${what} exited with code ${exit.code}` });
        output.end();
      };
      const platform = formatPlatform(job.platform);
      await run(
        ['bud', '--isolation=chroot', '--format=docker', '--layers=false', '--pull=always', '--force-rm', '--platform', platform,
          '--authfile', scratch.authfile, '--ignorefile', scratch.ignorefile, '-f', scratch.dockerfile, '-t', localName, job.contextDir],
        'buildah bud',
      );
      output.nextPhase();
      await run(['push', '--authfile', scratch.authfile, '--digestfile', scratch.digestfile, localName, `docker://${job.target}`], 'buildah push');
      return { digest: (await readFile(scratch.digestfile, 'utf8')).trim() };
    } finally {
      await this.buildah(['rmi', '--force', localName], () => undefined, AbortSignal.timeout(60_000), process.env).catch(() => undefined);
      if (scratchDir) await rm(scratchDir, { recursive: true, force: true });
      await this.leave();
    }
  }

  private buildah(args: string[], onOutput: (chunk: string) => void, signal: AbortSignal, env: NodeJS.ProcessEnv) {
    return runProcessGroup(this.binary, [...this.storageFlags, ...args], { env, onOutput, signal, stopGraceMs: this.stopGraceMs });
  }

  /** Starts a sweep when the storage may hold leftovers and no build runs; waits for any sweep to finish. */
  private async enter(): Promise<void> {
    if (this.needsSweep && this.running === 0 && !this.sweeping) this.startSweep();
    while (this.sweeping) await this.sweeping;
    this.running += 1;
  }

  /** Sweeps when this was the last build running and one was killed; resolves when that sweep is done. */
  private async leave(): Promise<void> {
    this.running -= 1;
    if (this.needsSweep && this.running === 0 && !this.sweeping) this.startSweep();
    await this.sweeping;
  }

  private startSweep(): void {
    this.sweeping = this.sweep().finally(() => (this.sweeping = undefined));
  }

  /**
   * Removes what killed builds left: every container (no build runs, so none is in use), this executor's
   * images and images without a name, and scratch directories. Base images stay.
   */
  private async sweep(): Promise<void> {
    const quiet = () => undefined;
    const signal = AbortSignal.timeout(120_000);
    try {
      await this.buildah(['rm', '--all'], quiet, signal, process.env);
      let listing = '';
      const listed = await this.buildah(['images', '--json'], (chunk) => (listing += chunk), signal, process.env);
      const images = listed.code === 0 ? (JSON.parse(listing || '[]') as Array<{ id: string; names?: string[] | null }>) : [];
      const ours = images.filter((image) => (image.names ?? []).every((name) => name.startsWith(LOCAL_IMAGE_PREFIX)));
      if (ours.length > 0) await this.buildah(['rmi', '--force', ...ours.map((image) => image.id)], quiet, signal, process.env);
      for (const entry of await readdir(this.scratchRoot).catch(() => [])) await rm(join(this.scratchRoot, entry), { recursive: true, force: true });
      this.needsSweep = false;
    } catch {
      // buildah unavailable or storage unreadable: the next build reports that; sweep again after it.
    }
  }
}

interface BuildahScratch {
  dir: string;
  dockerfile: string;
  authfile: string;
  ignorefile: string;
  digestfile: string;
  env: NodeJS.ProcessEnv;
}

/** The build's private directory (0700): Dockerfile, authfile (0600), registries.conf, ignore file, TMPDIR. */
async function writeScratch(root: string, job: BuildJob): Promise<BuildahScratch> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(root, `${slug(job.id)}-`));
  const path = (name: string) => join(dir, name);
  try {
    await mkdir(path('tmp'));
    await writeFile(path('Dockerfile'), job.dockerfile, { mode: 0o600 });
    await writeFile(path('auth.json'), authFile(job.logins), { mode: 0o600 });
    await writeFile(path('registries.conf'), registriesConf(job.logins), { mode: 0o600 });
    await writeFile(path('ignore'), '.dockerignore\n', { mode: 0o600 });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    dockerfile: path('Dockerfile'),
    authfile: path('auth.json'),
    ignorefile: path('ignore'),
    digestfile: path('digest'),
    env: {
      ...proxySettings(),
      PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: dir,
      TMPDIR: path('tmp'),
      CONTAINERS_REGISTRIES_CONF: path('registries.conf'),
    },
  };
}

/** The host's proxy settings: buildah uses them for pulls and pushes and hands them to RUN steps, as Docker does. */
function proxySettings(): NodeJS.ProcessEnv {
  const names = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'].flatMap((name) => [name, name.toLowerCase()]);
  return Object.fromEntries(names.filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]]));
}

/** containers-auth.json(5): one `auth` (base64 `user:password`) per registry. */
function authFile(logins: readonly RegistryLogin[]): string {
  const auths = Object.fromEntries(
    logins.map((login) => [login.registry, { auth: Buffer.from(`${login.username}:${login.password}`).toString('base64') }]),
  );
  return JSON.stringify({ auths });
}

/**
 * containers-registries.conf(5) for one build: Docker's meaning of short names (`FROM ubuntu` is Docker Hub,
 * whatever the host says) and plain http for the insecure logins' registries. Hosts were checked by
 * checkLogins, so JSON quoting is valid TOML here.
 */
function registriesConf(logins: readonly RegistryLogin[]): string {
  const insecure = logins.filter((login) => login.insecure).map((login) => `[[registry]]\nlocation = ${JSON.stringify(login.registry)}\ninsecure = true\n`);
  return ['unqualified-search-registries = ["docker.io"]', 'short-name-mode = "permissive"', '', ...insecure].join('\n');
}

/** The build id as a piece of a file or image name. */
function slug(id: string): string {
  return id.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64) || 'build';
}
