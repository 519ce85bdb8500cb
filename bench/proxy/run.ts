/**
 * Proxy benchmark, in one run on loopback: the same small Node upstream (upstream-server.ts: `/small`,
 * `/1mib`, a WebSocket echo) reached
 *   - directly (the reference),
 *   - through nginx (one worker, upstream keepalive: the speed of light),
 *   - through the two-hop floor: nginx in front of nginx, two processes on the path like Berth's server and
 *     agent, doing nothing else (what any such design can reach here, at best),
 *   - through the Node floor: a minimal Node reverse proxy in front of a Node byte relay (what a Node server
 *     and a Node agent can reach here, at best),
 *   - through configurable-http-proxy 5.3 (JupyterHub's proxy; route `/` added through its REST API, no auth),
 *   - through Berth: `berth up` (authenticating proxy + tunnel end) and the session agent (the runners' bundle, `--sidecar`) attached to
 *     the upstream, one session; requests carry the studio's Host and `Berth-Session-Token`.
 * Measures, after checking that every path passes both responses byte for byte, in this order:
 *   - req/s and p50/p99 with wrk (one thread) at 1, 10 and 100 connections for both responses;
 *   - Berth once more with the studio cookie of the browser login instead of the token header;
 *   - the WebSocket echo round trip (sequential, on one socket);
 *   - the proxies' memory as 1,000 idle WebSockets are opened through them, three times over (RSS of
 *     all their processes, after a full GC in the Node ones, which are started with the inspector for
 *     that), and the upgrade time.
 * Prints Berth ÷ configurable-http-proxy and Berth ÷ nginx, and the issue's targets as PASS/MISS lines, each
 * with the floors' own ratios to configurable-http-proxy (a target a floor misses is out of reach).
 *
 *   node --import tsx bench/proxy/run.ts          (or `npm run bench -- proxy`)
 *
 * Environment: BENCH_SECONDS (5, per wrk run), BENCH_REPEATS (3; wrk runs per cell, the report keeps each figure's median), BENCH_WARMUP_SECONDS (2), BENCH_WS_ROUNDS (2000),
 * BENCH_IDLE_SOCKETS (1000), BENCH_IDLE_STEPS (3), BENCH_PROXIES (e.g. "direct,nginx,chp"; all six by default),
 * BENCH_BERTH_NODE_FLAGS (extra node flags for Berth's server and agent). A quick run:
 *   BENCH_SECONDS=2 BENCH_REPEATS=1 BENCH_WARMUP_SECONDS=1 BENCH_WS_ROUNDS=300 npm run bench -- proxy
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { run } from '../../test/support/processes.ts';
import { loginToStudio } from '../../test/support/studio-login.ts';
import { withCpuSeconds } from '../support/cpu.ts';
import { Cleanup } from '../support/cleanup.ts';
import { getLoad, type LoadResult } from '../support/load.ts';
import { busyShare, formatBytes, median } from '../support/measure.ts';
import { startBerthStudio, type BerthStudio } from './berth-studio.ts';
import {
  direct,
  floorIds,
  startConfigurableHttpProxy,
  startNginx,
  startNodeFloor,
  startTwoHopFloor,
  startUpstream,
  type ProxyId,
  type ProxyUnderTest,
  type Upstream,
} from './proxies.ts';
import { printReport, responseKinds, type CookieMeasurement, type MeasuredLoad, type ProxyMeasurements, type ProxyReport, type ResponseKind } from './report.ts';
import { get } from './requests.ts';
import type { ProxyBenchSettings } from './settings.ts';
import { settingsFromEnvironment } from './settings.ts';
import { largeBody, smallBody, upstreamPaths } from './upstream-content.ts';
import { echoRoundTrips, idleSocketMemory, treeResidentBytes, withDescendants } from './websockets.ts';

const projectRoot = resolve(fileURLToPath(import.meta.url), '../../..');

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

const pathOf: Record<ResponseKind, string> = { small: upstreamPaths.small, large: upstreamPaths.large };
const bodyOf: Record<ResponseKind, Buffer> = { small: smallBody, large: largeBody };

async function startProxy(id: ProxyId, workDir: string, upstream: Upstream, cleanup: Cleanup): Promise<ProxyUnderTest> {
  switch (id) {
    case 'direct':
      return direct(upstream);
    case 'nginx':
      return startNginx(join(workDir, 'nginx'), upstream, cleanup);
    case 'floor':
      return startTwoHopFloor(join(workDir, 'floor'), upstream, cleanup);
    case 'nodefloor':
      return startNodeFloor(join(workDir, 'node-floor'), upstream, cleanup);
    case 'chp':
      return startConfigurableHttpProxy(join(workDir, 'chp'), upstream, cleanup);
    case 'berth':
      return startBerthStudio(join(workDir, 'berth'), upstream, cleanup);
  }
}

/** Every proxy must pass both responses through byte for byte before its numbers mean anything. */
async function checkResponses(proxy: ProxyUnderTest): Promise<void> {
  for (const kind of responseKinds) {
    const answer = await get(proxy, pathOf[kind]);
    if (answer.status !== 200 || !answer.body.equals(bodyOf[kind])) {
      throw new Error(`${proxy.label}: GET ${pathOf[kind]} answered ${answer.status} with ${answer.body.length} bytes that are not the upstream's`);
    }
  }
}

function load(proxy: ProxyUnderTest, kind: ResponseKind, connections: number, seconds: number, scriptDir: string): Promise<LoadResult> {
  return getLoad({ url: `http://${proxy.address}${pathOf[kind]}`, headers: proxy.headers, connections, seconds, threads: 1, scriptDir });
}

/** The proxies in another order for every measurement, so that drift in the machine's load favours none. */
function rotated<T>(items: T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** CPU seconds that each of the proxy's processes (with its children) spent during `work`. */
async function withProxyCpu<T>(proxy: ProxyUnderTest, work: () => Promise<T>): Promise<{ cpuSeconds: number[]; result: T }> {
  const trees = proxy.servers.map((server) => withDescendants(server.pid));
  const { cpu, result } = await withCpuSeconds(trees.flat(), work);
  let next = 0;
  const cpuSeconds = trees.map((tree) => cpu.slice(next, (next += tree.length)).reduce((sum, seconds) => sum + seconds, 0));
  return { cpuSeconds, result };
}

/**
 * wrk runs: per response a warm-up per proxy, then every connection count `repeats` times, the proxies in
 * a new order each round; what is kept is each figure's median over the rounds.
 */
async function measureLoads(settings: ProxyBenchSettings, proxies: ProxyUnderTest[], measured: Map<ProxyUnderTest, ProxyMeasurements>, scriptDir: string): Promise<void> {
  let turn = 0;
  for (const kind of responseKinds) {
    for (const proxy of proxies) await load(proxy, kind, 10, settings.warmUpSeconds, scriptDir);
    for (const connections of settings.connections) {
      const runs = new Map<ProxyUnderTest, MeasuredLoad[]>(proxies.map((proxy) => [proxy, []]));
      for (let round = 1; round <= settings.repeats; round++) {
        for (const proxy of rotated(proxies, turn++)) {
          const { cpuSeconds, result } = await withProxyCpu(proxy, () => load(proxy, kind, connections, settings.loadSeconds, scriptDir));
          runs.get(proxy)!.push({ ...result, cpuSeconds });
          progress(
            `${pathOf[kind]} c=${connections} ${proxy.label}${settings.repeats > 1 ? ` (${round}/${settings.repeats})` : ''}: ${result.requestsPerSecond.toFixed(0)} req/s, ` +
              `p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms${result.failed > 0 ? `, ${result.failed} FAILED` : ''}`,
          );
        }
      }
      for (const [proxy, list] of runs) measured.get(proxy)!.loads[kind].set(connections, medianLoad(list));
    }
  }
}

/** Each figure's median over the runs (CPU per process too); failures add up, since any makes the cell suspect. */
function medianLoad(runs: MeasuredLoad[]): MeasuredLoad {
  const of = (figure: (run: MeasuredLoad) => number) => median(runs.map(figure));
  return {
    requestsPerSecond: of((run) => run.requestsPerSecond),
    p50Ms: of((run) => run.p50Ms),
    p99Ms: of((run) => run.p99Ms),
    completed: of((run) => run.completed),
    failed: runs.reduce((sum, run) => sum + run.failed, 0),
    cpuSeconds: runs[0]!.cpuSeconds.map((_, process) => of((run) => run.cpuSeconds[process]!)),
  };
}

/** Connections of the one run with the browser's studio cookie (the issue's reference concurrency). */
const cookieConnections = 10;

/**
 * /small through Berth as a browser reaches it: the studio cookie from the login round trip instead of
 * the token header, so that the cookie's verification is measured too.
 */
async function measureWithCookie(settings: ProxyBenchSettings, berth: BerthStudio, scriptDir: string): Promise<CookieMeasurement> {
  const cookie = await loginToStudio({ berthUrl: `http://${berth.address}`, studioUrl: berth.studioUrl, apiToken: berth.adminToken });
  const browser: ProxyUnderTest = { ...berth, headers: { Host: berth.headers.Host!, Cookie: cookie } };
  const answer = await get(browser, upstreamPaths.small);
  if (answer.status !== 200 || !answer.body.equals(smallBody)) throw new Error(`Berth answered ${answer.status} to the studio cookie: ${answer.body.toString('utf8', 0, 300)}`);
  await load(browser, 'small', cookieConnections, settings.warmUpSeconds, scriptDir);
  const result = await load(browser, 'small', cookieConnections, settings.loadSeconds, scriptDir);
  progress(`${upstreamPaths.small} c=${cookieConnections} Berth with the studio cookie: ${result.requestsPerSecond.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(2)} ms`);
  return { connections: cookieConnections, result };
}

/**
 * The RSS of the proxy's processes (with their children) once it has gone idle: a second for
 * sockets to finish their handshakes' work, then a full garbage collection in a Node proxy.
 */
async function settledMemory(proxy: ProxyUnderTest, pids: number[]): Promise<number> {
  await sleep(1_000);
  await proxy.collectGarbage?.();
  await sleep(500);
  return treeResidentBytes(pids);
}

/**
 * Every measurement, in an order that keeps them apart: HTTP loads, the cookie, WebSocket echoes, and
 * memory last. Memory needs a full garbage collection through the inspector before each reading, and
 * after one a Node process runs its heap lean (measured: Berth's server spent 1.6 ms of CPU per 1 MiB
 * response before and 6 ms after), so nothing is timed after it.
 */
async function measureAll(settings: ProxyBenchSettings, proxies: ProxyUnderTest[], workDir: string): Promise<ProxyReport> {
  const measured = new Map(proxies.map((proxy) => [proxy, { id: proxy.id, label: proxy.label, roles: proxy.roles, loads: { small: new Map(), large: new Map() }, echoMs: [] } as ProxyMeasurements]));
  const busyBefore = await busyShare();
  await measureLoads(settings, proxies, measured, workDir);
  const berth = proxies.find((proxy): proxy is BerthStudio => proxy.id === 'berth');
  const cookie = berth ? await measureWithCookie(settings, berth, workDir) : undefined;
  for (const [index, proxy] of rotated(proxies, 1).entries()) {
    measured.get(proxy)!.echoMs = await echoRoundTrips(proxy, settings.wsRounds);
    progress(`${proxy.label}: ${settings.wsRounds} WebSocket echoes (${index + 1}/${proxies.length})`);
  }
  for (const proxy of proxies.filter((p) => p.servers.length > 0 && !floorIds.has(p.id))) {
    const pids = proxy.servers.map((server) => server.pid);
    const idle = await idleSocketMemory(proxy, () => settledMemory(proxy, pids), settings.idleSockets, settings.idleSteps);
    measured.get(proxy)!.idleSockets = idle;
    const steps = [idle.steps[0]!.rssBeforeBytes, ...idle.steps.map((step) => step.rssAfterBytes)].map(formatBytes).join(' → ');
    progress(`${proxy.label}: RSS with 0, ${settings.idleSockets}, … ${settings.idleSockets * settings.idleSteps} idle WebSockets: ${steps}`);
  }
  return {
    settings,
    measured: proxies.map((proxy) => measured.get(proxy)!),
    cookie,
    versions: await versions(),
    background: { before: busyBefore, after: await busyShare() },
    serverErrors: await loggedFailures(proxies),
  };
}

async function loggedFailures(proxies: ProxyUnderTest[]): Promise<string[]> {
  return (await Promise.all(proxies.map((proxy) => proxy.loggedFailures()))).flat();
}

async function main(): Promise<void> {
  const settings = settingsFromEnvironment();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  const proxies: ProxyUnderTest[] = [];
  try {
    const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-proxy-'));
    cleanup.defer(`removing ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
    const upstream = await startUpstream(join(workDir, 'upstream'), cleanup);
    progress(`upstream on ${upstream.address} (pid ${upstream.server.pid})`);
    for (const id of settings.proxies) {
      const proxy = await startProxy(id, workDir, upstream, cleanup);
      await checkResponses(proxy);
      proxies.push(proxy);
      progress(`${proxy.label} on ${proxy.address}${proxy.servers.length > 0 ? ` (pids ${proxy.servers.map((s) => s.pid).join(', ')})` : ''}`);
    }
    printReport(await measureAll(settings, proxies, workDir));
  } catch (error) {
    // The logs go with the work directory: show what the proxies said about the failure first.
    for (const line of await loggedFailures(proxies)) console.error(line.slice(0, 500));
    throw error;
  } finally {
    await cleanup.run();
  }
}

/** The peers' versions as installed, for the report's header. */
async function versions(): Promise<{ nginx: string; chp: string }> {
  const nginx = await run('nginx', ['-v'], { allowFailure: true });
  const chp = await run(join(projectRoot, 'node_modules/.bin/configurable-http-proxy'), ['--version'], { allowFailure: true });
  return { nginx: nginx.stderr.trim().replace(/^nginx version: nginx\//, ''), chp: chp.stdout.trim() };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
