import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { layout } from '../../src/registry/storage/layout.ts';
import { hexOf, parseDigest } from '../../src/registry/digest.ts';
import { freePort, startProcess, waitForHttp, type ServerProcess } from './servers.ts';

/** A registry under benchmark, started by the benchmark on a free loopback port. */
export interface BenchRegistry {
  label: string;
  /** host:port, as registry clients name it */
  host: string;
  server: ServerProcess;
  /** A repository name this registry accepts for `path` (Berth needs a workspace component). */
  repository(path: string): string;
  /** skopeo flags that authenticate a push to / pull from it. */
  destinationFlags: string[];
  sourceFlags: string[];
  /** The Authorization header a real client sends to pull `repository`, if any is needed. */
  pullAuthorization(repository: string): Promise<string | undefined>;
  /** The Authorization header for DELETEs, if any is needed. */
  adminAuthorization(): string | undefined;
  /** Where the registry keeps the bytes of a committed blob (`sha256:…`). */
  blobFile(digest: string): string;
  /** Whether a line of the server's log reports a failure of the server (not of a client's request). */
  isFailureLogLine(line: string): boolean;
}

const projectRoot = resolve(fileURLToPath(import.meta.url), '../../..');

/**
 * CNCF distribution (`docker-registry`) as Debian packages it, without auth (the benchmark's
 * peer). Its request logging is off, and it keeps the packaged in-memory blob descriptor cache,
 * so the peer runs in its fastest ordinary configuration.
 */
export async function startDistribution(dir: string): Promise<BenchRegistry> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const storage = join(dir, 'storage');
  const configFile = join(dir, 'config.yml');
  const config = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { cache: { blobdescriptor: 'inmemory' }, filesystem: { rootdirectory: storage }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: 'berth-bench' },
  };
  await writeFile(configFile, stringify(config));
  const server = startProcess('docker-registry', ['serve', configFile], { logFile: join(dir, 'registry.log') });
  const host = `127.0.0.1:${port}`;
  await waitForHttp(`http://${host}/v2/`, 200, server).catch(async (error) => {
    await server.stop();
    throw error;
  });
  return {
    label: 'distribution',
    host,
    server,
    repository: (path) => `bench/${path}`,
    destinationFlags: [],
    sourceFlags: [],
    pullAuthorization: async () => undefined,
    adminAuthorization: () => undefined,
    blobFile: (digest) => {
      const hex = hexOf(parseDigest(digest));
      return join(storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    },
    // Every 4xx is logged at level error, including the 404s of the HEADs clients send before uploading.
    isFailureLogLine: (line) => /level=(error|fatal|panic)/.test(line) && !/http\.response\.status=4\d\d/.test(line),
  };
}

/** What a benchmark may add to Berth's start: a config file's content, node flags besides BENCH_BERTH_NODE_FLAGS. */
export interface BerthProcessOptions {
  /** Written to berth.yaml in `dir` and passed as BERTH_CONFIG (e.g. `{ studios: { allowedWorkspaces: null } }`). */
  config?: Record<string, unknown>;
  nodeFlags?: string[];
}

/**
 * Berth out of process, as an operator starts it (`berth up`), with SQLite in its data directory.
 * Inherited BERTH_* variables are dropped so that the machine's environment cannot change what is
 * measured; extra node flags (e.g. `--cpu-prof`) come from BENCH_BERTH_NODE_FLAGS.
 */
export async function startBerthProcess(dir: string, options: BerthProcessOptions = {}): Promise<BenchRegistry & { adminToken: string }> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const dataDir = join(dir, 'data');
  const adminToken = `berth_bench-${randomBytes(16).toString('hex')}`;
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_')));
  env.BERTH_ADMIN_TOKEN = adminToken;
  if (options.config) {
    const configFile = join(dir, 'berth.yaml');
    await writeFile(configFile, stringify(options.config));
    env.BERTH_CONFIG = configFile;
  }
  const nodeFlags = [...(process.env.BENCH_BERTH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean), ...(options.nodeFlags ?? [])];
  const server = startProcess(process.execPath, [...nodeFlags, join(projectRoot, 'bin/berth.js'), 'up', '--port', String(port), '--data', dataDir], {
    logFile: join(dir, 'berth.log'),
    cwd: projectRoot,
    env,
  });
  const host = `127.0.0.1:${port}`;
  await waitForHttp(`http://${host}/healthz`, 200, server).catch(async (error) => {
    await server.stop();
    throw error;
  });
  const basic = `Basic ${Buffer.from(`admin:${adminToken}`).toString('base64')}`;
  return {
    label: 'Berth',
    host,
    server,
    adminToken,
    repository: (path) => `admin/${path}`,
    destinationFlags: ['--dest-creds', `admin:${adminToken}`],
    sourceFlags: ['--src-creds', `admin:${adminToken}`],
    async pullAuthorization(repository) {
      const url = `http://${host}/v2/token?service=berth&scope=${encodeURIComponent(`repository:${repository}:pull`)}`;
      const response = await fetch(url, { headers: { Authorization: basic } });
      const body = (await response.json()) as { token?: string };
      if (!response.ok || !body.token) throw new Error(`Berth token endpoint answered ${response.status}: ${JSON.stringify(body)}`);
      return `Bearer ${body.token}`;
    },
    adminAuthorization: () => basic,
    blobFile: (digest) => layout.blob(join(dataDir, 'registry'), parseDigest(digest)),
    isFailureLogLine: (line) => line.startsWith('error: '),
  };
}
