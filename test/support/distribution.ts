import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { ociReference, type GeneratedLayout } from './oci-image.ts';
import { freePort, run, stopProcess, watchChild } from './processes.ts';

/**
 * A real CNCF distribution registry (`docker-registry` 2.8) as an upstream for pull-through tests,
 * behind a counting proxy so that tests can count what reached the upstream. Optionally behind
 * htpasswd (bcrypt, made with apache2-utils' `htpasswd`). Distribution's own token auth needs a
 * token server and certificates; tests that need the Bearer token dance use Berth as the upstream,
 * behind `startCountingProxy`.
 */

export interface RecordedRequest {
  method: string;
  /** Path and query, as the client sent them. */
  url: string;
  /** Whether the request carried an Authorization header. */
  authorized: boolean;
  /** The upstream's status; undefined until its response headers arrived (or when it never answered). */
  status?: number;
}

export interface CountingProxy {
  /** `http://127.0.0.1:PORT` of the proxy: give this to clients. */
  url: string;
  /** `127.0.0.1:PORT`, as registry clients name it. */
  host: string;
  /** Every request that reached the proxy, in arrival order (recorded before it is forwarded). */
  readonly requests: readonly RecordedRequest[];
  /** Requests so far that match: a predicate, or a method and a path pattern. */
  count(match?: ((request: RecordedRequest) => boolean) | { method?: string; path?: RegExp }): number;
  close(): Promise<void>;
}

export interface Distribution extends CountingProxy {
  /** The registry itself, bypassing the proxy (its requests are not counted). */
  directUrl: string;
  credentials?: { username: string; password: string };
  /** Pushes an OCI layout with skopeo (through the proxy), e.g. `push(layout, 'library/app:1')`. */
  push(layout: GeneratedLayout, reference: string): Promise<void>;
  /** Stops the registry and the proxy, and removes its storage. Idempotent. */
  stop(): Promise<void>;
}

export interface DistributionOptions {
  /** Require these credentials (HTTP Basic, checked against a bcrypt htpasswd file). */
  htpasswd?: { username: string; password: string };
}

const startTimeoutMs = 20_000;
/** Enough of the registry's log to say why it did not start. */

export async function startDistribution(options: DistributionOptions = {}): Promise<Distribution> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-distribution-'));
  let registry: ChildProcess | undefined;
  let proxy: CountingProxy | undefined;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await proxy?.close();
      if (registry) await stopProcess(registry);
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, stringify(await registryConfig(dir, port, options)));
    registry = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const directUrl = `http://127.0.0.1:${port}`;
    await waitUntilServing(registry, directUrl);
    proxy = await startCountingProxy(directUrl);
    const counted = proxy;
    const credentials = options.htpasswd;
    return {
      url: counted.url,
      host: counted.host,
      requests: counted.requests,
      count: counted.count,
      close: stop,
      directUrl,
      credentials,
      async push(layout, reference) {
        const auth = credentials ? ['--dest-creds', `${credentials.username}:${credentials.password}`] : [];
        await run('skopeo', ['copy', '--dest-tls-verify=false', ...auth, ociReference(layout), `docker://${counted.host}/${reference}`]);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function registryConfig(dir: string, port: number, options: DistributionOptions): Promise<object> {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: { level: 'warn', accesslog: { disabled: true } },
    storage: { filesystem: { rootdirectory: join(dir, 'data') }, delete: { enabled: true } },
    http: { addr: `127.0.0.1:${port}`, secret: 'berth-test-upstream' },
  };
  if (options.htpasswd) {
    const { username, password } = options.htpasswd;
    // -B: bcrypt, the only hash distribution accepts; -n: print instead of writing a file. (execFile
    // rather than run(): run() writes to stdin, which htpasswd may have closed already, an EPIPE.)
    const line = (await promisify(execFile)('htpasswd', ['-nbB', username, password])).stdout.trim();
    const path = join(dir, 'htpasswd');
    await writeFile(path, `${line}\n`);
    config.auth = { htpasswd: { realm: 'berth-test-upstream', path } };
  }
  return config;
}

/** Resolves once `/v2/` answers (200, or 401 behind htpasswd); rejects with the registry's log if it exits or never answers. */
async function waitUntilServing(child: ChildProcess, url: string): Promise<void> {
  const watch = watchChild(child);
  const deadline = Date.now() + startTimeoutMs;
  while (Date.now() < deadline) {
    if (watch.exited()) break;
    const status = await fetch(`${url}/v2/`).then((r) => r.status, () => undefined);
    if (status === 200 || status === 401) return;
    await sleep(50);
  }
  throw new Error(`docker-registry ${watch.exited() ?? `did not answer within ${startTimeoutMs} ms`}\n${watch.log()}`);
}

/**
 * A forwarding HTTP proxy on 127.0.0.1 that records every request before passing it on to `target`
 * (keeping the Host header, so the upstream's absolute URLs, like a token realm or an upload
 * Location, point back at the proxy). Bodies stream through in both directions.
 */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const recorded: RecordedRequest = { method: req.method ?? 'GET', url: req.url ?? '/', authorized: req.headers.authorization !== undefined };
    requests.push(recorded);
    forward(req, res, upstream, agent, recorded);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    count(match) {
      if (!match) return requests.length;
      if (typeof match === 'function') return requests.filter(match).length;
      return requests.filter((r) => (!match.method || r.method === match.method) && (!match.path || match.path.test(r.url))).length;
    },
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      })),
  };
}

function forward(req: IncomingMessage, res: ServerResponse, upstream: URL, agent: Agent, recorded: RecordedRequest): void {
  const outgoing = httpRequest(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers, agent },
    (answer) => {
      recorded.status = answer.statusCode;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      pipeline(answer, res).catch(() => res.destroy());
    },
  );
  outgoing.on('error', () => {
    if (!res.headersSent) res.writeHead(502).end();
    else res.destroy();
  });
  pipeline(req, outgoing).catch(() => outgoing.destroy());
}
