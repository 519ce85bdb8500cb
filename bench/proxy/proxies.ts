import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from '../support/cleanup.ts';
import { freePort, startProcess, waitForHttp, type ServerProcess } from '../support/servers.ts';
import { collectGarbage, inspectorFlag } from './node-gc.ts';
import { waitUntilServed, type Route } from './requests.ts';
import { upstreamPaths } from './upstream-content.ts';

export type ProxyId = 'direct' | 'nginx' | 'floor' | 'nodefloor' | 'chp' | 'berth';

/** The floors: there for the speed they reach, not as designs (their memory says nothing). */
export const floorIds: ReadonlySet<ProxyId> = new Set(['floor', 'nodefloor']);

/** One way to reach the upstream: a proxy started by the benchmark, or the upstream itself. */
export interface ProxyUnderTest extends Route {
  id: ProxyId;
  label: string;
  /** The processes that make up the proxy (their children count too): their RSS is its memory. */
  servers: ServerProcess[];
  /** What each of `servers` is, for the CPU breakdown (e.g. server, agent). */
  roles: string[];
  /** Lines of its logs that report a failure of the proxy rather than of a request. */
  loggedFailures(): Promise<string[]>;
  /** For proxies written in Node: a full garbage collection in each of its processes, before reading their RSS. */
  collectGarbage?(): Promise<void>;
}

export interface Upstream {
  address: string;
  port: number;
  server: ServerProcess;
}

const projectRoot = resolve(fileURLToPath(import.meta.url), '../../..');

/** The lines of a log file that `isFailure` picks, prefixed with the proxy's label. */
export async function failureLines(label: string, logFile: string, isFailure: (line: string) => boolean): Promise<string[]> {
  const log = await readFile(logFile, 'utf8').catch(() => '');
  return log
    .split('\n')
    .filter(isFailure)
    .map((line) => `${label}: ${line}`);
}

/** The Node upstream (upstream-server.ts) in its own process. */
export async function startUpstream(dir: string, cleanup: Cleanup): Promise<Upstream> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const server = startProcess(process.execPath, ['--import', 'tsx', join(projectRoot, 'bench/proxy/upstream-server.ts'), String(port)], {
    logFile: join(dir, 'upstream.log'),
    cwd: projectRoot,
  });
  cleanup.defer('stopping the upstream', () => server.stop());
  const address = `127.0.0.1:${port}`;
  await waitForHttp(`http://${address}${upstreamPaths.small}`, 200, server);
  return { address, port, server };
}

/** The reference: the client talks to the upstream itself. */
export function direct(upstream: Upstream): ProxyUnderTest {
  return { id: 'direct', label: 'direct', address: upstream.address, headers: {}, servers: [], roles: [], loggedFailures: async () => [] };
}

/**
 * nginx as the speed of light: one worker (as configurable-http-proxy is one Node process; Berth has
 * two on the request path, server and agent), upstream keepalive over HTTP/1.1, default buffering,
 * WebSocket upgrades passed through, no access log. Runs in the foreground with everything under `dir`.
 */
export async function startNginx(dir: string, upstream: Upstream, cleanup: Cleanup): Promise<ProxyUnderTest> {
  const nginx = await startNginxProcess(dir, upstream.address, cleanup);
  return {
    id: 'nginx',
    label: 'nginx',
    address: nginx.address,
    headers: {},
    servers: [nginx.server],
    roles: ['master + worker'],
    loggedFailures: nginx.loggedFailures,
  };
}

/**
 * The two-hop floor: nginx in front of nginx, so that a request crosses two proxy processes, as it
 * crosses Berth's server and its agent, with nothing else done on the way (no authentication, no
 * tunnel). No design with a second process on the path does better on this machine; where this floor
 * misses a target against configurable-http-proxy, the target is out of reach for such a design here.
 */
export async function startTwoHopFloor(dir: string, upstream: Upstream, cleanup: Cleanup): Promise<ProxyUnderTest> {
  const inner = await startNginxProcess(join(dir, 'inner'), upstream.address, cleanup);
  const outer = await startNginxProcess(join(dir, 'outer'), inner.address, cleanup);
  return twoProcessFloor('floor', 'two-hop floor', { ...outer, role: 'outer' }, { ...inner, role: 'inner' });
}

interface FloorProcess {
  address: string;
  server: ServerProcess;
  role: string;
  loggedFailures(): Promise<string[]>;
}

/** A floor of two processes on the path, `front` (which the client reaches) passing on to `back`. */
function twoProcessFloor(id: ProxyId, label: string, front: FloorProcess, back: FloorProcess): ProxyUnderTest {
  return {
    id,
    label,
    address: front.address,
    headers: {},
    servers: [front.server, back.server],
    roles: [front.role, back.role],
    loggedFailures: async () => [...(await front.loggedFailures()), ...(await back.loggedFailures())],
  };
}

/**
 * The Node floor: a minimal Node reverse proxy (node-floor-server.ts `proxy`: parse, `http.request`,
 * pipe) in front of a Node byte relay (`relay`), so that a request crosses two Node processes, the first
 * parsing it as Berth's server must and the second copying bytes as Berth's agent does, with nothing
 * else (no authentication, and a TCP connection per connection instead of one multiplexed tunnel).
 * Where this floor misses a target, a Node server with a Node agent misses it here.
 */
export async function startNodeFloor(dir: string, upstream: Upstream, cleanup: Cleanup): Promise<ProxyUnderTest> {
  await mkdir(dir, { recursive: true });
  const start = async (mode: 'proxy' | 'relay', target: string): Promise<FloorProcess> => {
    const port = await freePort();
    const script = join(projectRoot, 'bench/proxy/node-floor-server.ts');
    const server = startProcess(process.execPath, ['--import', 'tsx', script, mode, String(port), target], { logFile: join(dir, `${mode}.log`), cwd: projectRoot });
    cleanup.defer(`stopping the Node floor's ${mode}`, () => server.stop());
    const address = `127.0.0.1:${port}`;
    await waitForHttp(`http://${address}${upstreamPaths.small}`, 200, server);
    return { address, server, role: mode, loggedFailures: async () => [] };
  };
  const relay = await start('relay', upstream.address);
  const proxy = await start('proxy', relay.address);
  return twoProcessFloor('nodefloor', 'Node floor', proxy, relay);
}

async function startNginxProcess(dir: string, upstreamAddress: string, cleanup: Cleanup): Promise<{ address: string; server: ServerProcess; loggedFailures: () => Promise<string[]> }> {
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const configFile = join(dir, 'nginx.conf');
  const errorLog = join(dir, 'error.log');
  await writeFile(configFile, nginxConfig({ dir, port, upstream: upstreamAddress, errorLog }));
  const server = startProcess('nginx', ['-p', dir, '-c', configFile, '-e', errorLog], { logFile: join(dir, 'nginx.out') });
  cleanup.defer('stopping nginx', () => server.stop());
  const address = `127.0.0.1:${port}`;
  await waitForHttp(`http://${address}${upstreamPaths.small}`, 200, server);
  return { address, server, loggedFailures: () => failureLines('nginx', errorLog, (line) => /\[(error|crit|alert|emerg)\]/.test(line)) };
}

function nginxConfig(options: { dir: string; port: number; upstream: string; errorLog: string }): string {
  const { dir, port, upstream, errorLog } = options;
  // As root, the master would hand the worker to `nobody`, who cannot enter the private temp directory.
  const user = process.getuid?.() === 0 ? 'user root root;' : '';
  return `${user}
daemon off;
worker_processes 1;
worker_rlimit_nofile 16384;
pid ${join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'client-body')};
  proxy_temp_path ${join(dir, 'proxy-temp')};
  fastcgi_temp_path ${join(dir, 'fastcgi-temp')};
  uwsgi_temp_path ${join(dir, 'uwsgi-temp')};
  scgi_temp_path ${join(dir, 'scgi-temp')};
  upstream tool {
    server ${upstream};
    keepalive 128;
  }
  # Upgrade requests keep their Connection: upgrade; all others go out with an empty one (keepalive).
  map $http_upgrade $connection_upgrade {
    default upgrade;
    '' '';
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://tool;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 1h;
    }
  }
}
`;
}

/**
 * configurable-http-proxy 5.3 as JupyterHub runs it: the route `/` → upstream added through its
 * REST API, no authentication of its own (JupyterHub authenticates before sending users there).
 */
export async function startConfigurableHttpProxy(dir: string, upstream: Upstream, cleanup: Cleanup): Promise<ProxyUnderTest> {
  await mkdir(dir, { recursive: true });
  const [port, apiPort] = [await freePort(), await freePort()];
  const apiToken = randomBytes(16).toString('hex');
  const args = ['--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'warn'];
  const server = startProcess(process.execPath, [inspectorFlag, join(projectRoot, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy'), ...args], {
    logFile: join(dir, 'chp.log'),
    env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: apiToken },
  });
  cleanup.defer('stopping configurable-http-proxy', () => server.stop());
  const address = `127.0.0.1:${port}`;
  await waitForHttp(`http://${address}/`, 404, server); // up, no route yet
  const response = await fetch(`http://127.0.0.1:${apiPort}/api/routes/`, {
    method: 'POST',
    headers: { Authorization: `token ${apiToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ target: `http://${upstream.address}` }),
  });
  if (response.status !== 201) throw new Error(`configurable-http-proxy's API answered ${response.status} to adding the route: ${await response.text()}`);
  const proxy: ProxyUnderTest = {
    id: 'chp',
    label: 'configurable-http-proxy',
    address,
    headers: {},
    servers: [server],
    roles: ['proxy'],
    loggedFailures: () => failureLines('configurable-http-proxy', server.logFile, (line) => /\berror\b/i.test(line)),
    collectGarbage: () => collectGarbage(server.logFile),
  };
  await waitUntilServed(proxy, upstreamPaths.small, [server]);
  return proxy;
}
