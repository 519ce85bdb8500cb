import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { scratchDir } from './containers.ts';
import { run, type RunResult } from './processes.ts';

/**
 * A private Docker engine for one test file: its own data root, exec root, socket and pid file
 * under a temporary directory, no iptables or bridge changes to the host, cgroupfs (the host's
 * systemd cgroup driver is unavailable here). Containers must use `--network host`.
 */
export interface Dockerd {
  /** `DOCKER_HOST` for clients, `unix://…/docker.sock`. */
  host: string;
  pid: number;
  /**
   * Runs the docker CLI against this engine. `configDir` becomes DOCKER_CONFIG, so logins stay
   * in the test's own directory; builds use the classic builder (no BuildKit here).
   */
  docker(args: string[], options: DockerRunOptions): Promise<RunResult>;
  /** The engine's own log, for diagnosing failures. */
  log(): Promise<string>;
  /** Stops the engine by its PID (SIGTERM, then SIGKILL), unmounts what it left and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

export type DockerRunOptions = NonNullable<Parameters<typeof run>[2]> & { configDir: string };

export interface DockerdOptions {
  /** `host:port` registries the engine may reach over plain HTTP. */
  insecureRegistries?: string[];
  readyTimeoutMs?: number;
  stopTimeoutMs?: number;
}

export async function startDockerd(options: DockerdOptions = {}): Promise<Dockerd> {
  const dir = await scratchDir('dockerd');
  const socket = join(dir, 'docker.sock');
  const logPath = join(dir, 'dockerd.log');
  await mkdir(join(dir, 'data'));
  const args = [
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '-H', `unix://${socket}`,
    '--pidfile', join(dir, 'dockerd.pid'),
    '--iptables=false',
    '--bridge=none',
    '--exec-opt', 'native.cgroupdriver=cgroupfs',
    ...(options.insecureRegistries ?? []).flatMap((registry) => ['--insecure-registry', registry]),
  ];
  const logFd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn('dockerd', args, { stdio: ['ignore', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}`));
    child.once('error', (error) => resolve(`could not start: ${error.message}`));
  });
  const log = () => readFile(logPath, 'utf8').catch(() => '');

  let stopped: Promise<void> | undefined;
  const stop = () => (stopped ??= stopEngine(child, exited, dir, options.stopTimeoutMs ?? 30_000));

  const failure = await Promise.race([waitForPing(socket, options.readyTimeoutMs ?? 60_000), exited]);
  if (failure !== undefined) {
    const output = await log();
    await stop();
    throw new Error(`dockerd did not become ready (${failure}); its log ends:\n${output.slice(-4000)}`);
  }

  return {
    host: `unix://${socket}`,
    pid: child.pid!,
    log,
    stop,
    docker(dockerArgs, { configDir, env, ...runOptions }) {
      return run('docker', dockerArgs, {
        ...runOptions,
        env: { ...process.env, ...env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: configDir, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false' },
      });
    },
  };
}

/** Resolves undefined once the API answers `GET /_ping`, or a reason after `timeoutMs`. */
async function waitForPing(socket: string, timeoutMs: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ping(socket)) return undefined;
    await sleep(100);
  }
  return `no answer on ${socket} within ${timeoutMs} ms`;
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function stopEngine(child: ChildProcess, exited: Promise<string>, dir: string, timeoutMs: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    child.kill('SIGTERM');
    // An unreferenced timer: a prompt exit must not leave the test process waiting for it.
    const graceful = await Promise.race([exited.then(() => true), sleep(timeoutMs, false, { ref: false })]);
    if (!graceful) {
      // dockerd would have stopped the containerd it started; without it, end that child too.
      await killByPidFile(join(dir, 'exec', 'containerd', 'containerd.pid'));
      child.kill('SIGKILL');
      await exited;
    }
  }
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true });
}

async function killByPidFile(path: string): Promise<void> {
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * dockerd leaves its network namespace bind mount (`exec/netns/default`) behind even after a clean
 * exit, and a killed engine may leave overlay mounts: unmount everything below `dir`, deepest first.
 */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((line) => unescapeMountPath(line.split(' ')[1] ?? ''))
    .filter((path) => path.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const path of mounts) {
    const unmounted = await run('umount', [path], { allowFailure: true });
    if (unmounted.code !== 0) await run('umount', ['-l', path], { allowFailure: true });
  }
}

/** /proc/mounts writes spaces and other special characters as octal escapes (`\040`). */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
