import { cpus } from 'node:os';
import { printTable } from '../../src/cli/output.ts';
import type { LoadResult } from '../support/load.ts';
import { formatBytes, median, backgroundLine } from '../support/measure.ts';
import type { ProxyId } from './proxies.ts';
import type { ProxyBenchSettings } from './settings.ts';
import { smallBody, upstreamPaths } from './upstream-content.ts';
import type { IdleSocketsResult } from './websockets.ts';

export const responseKinds = ['small', 'large'] as const;
export type ResponseKind = (typeof responseKinds)[number];

/** One wrk run, with the CPU seconds each of the proxy's processes spent during it. */
export interface MeasuredLoad extends LoadResult {
  cpuSeconds: number[];
}

/** Everything measured through one proxy (or directly). */
export interface ProxyMeasurements {
  id: ProxyId;
  label: string;
  /** What each of its processes is (see ProxyUnderTest.roles). */
  roles: string[];
  /** wrk results by connection count. */
  loads: Record<ResponseKind, Map<number, MeasuredLoad>>;
  /** Sequential echo round trips, ms. */
  echoMs: number[];
  /** Not measured for `direct`: the upstream's memory is the same behind every proxy. */
  idleSockets?: IdleSocketsResult;
}

/** Requests through Berth with the studio cookie of the browser login instead of the token header. */
export interface CookieMeasurement {
  connections: number;
  result: LoadResult;
}

export interface ProxyReport {
  settings: ProxyBenchSettings;
  measured: ProxyMeasurements[];
  /** Absent when Berth was not measured. */
  cookie?: CookieMeasurement;
  versions: { nginx: string; chp: string };
  /** Share of the cores busy with other work just before and after the measurements (0–1). */
  background: { before: number; after: number };
  serverErrors: string[];
}

/** The issue's targets against configurable-http-proxy. */
const requestRateTarget: Record<ResponseKind, number> = { small: 2, large: 1.5 };
const p99Target = 0.5;

const columnName: Record<ProxyId, string> = { direct: 'DIRECT', nginx: 'NGINX', floor: 'FLOOR', nodefloor: 'NODE FLOOR', chp: 'CHP', berth: 'BERTH' };
const pathOf: Record<ResponseKind, string> = { small: upstreamPaths.small, large: upstreamPaths.large };
const peers = ['chp', 'nginx'] as const;

/** Nearest-rank percentile. */
function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const rate = (value: number) => `${value.toFixed(0)} req/s`;
const ms = (value: number) => (value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(2)} ms`);
/** A growth that came out negative (a heap that shrank meanwhile) is shown as such, not hidden. */
const signedBytes = (bytes: number) => (bytes < 0 ? `−${formatBytes(-bytes)}` : formatBytes(bytes));
const ratioText = (value: number | undefined) => (value === undefined || !Number.isFinite(value) ? '' : `${value.toFixed(2)}×`);

export function printReport(report: ProxyReport): void {
  const { settings, measured } = report;
  const byId = new Map(measured.map((m) => [m.id, m]));
  const berth = byId.get('berth');
  /** Berth ÷ peer of a value, when both were measured. */
  const ratio: Ratio = (peer, value) => {
    const peerMeasured = byId.get(peer);
    if (!berth || !peerMeasured) return undefined;
    const [ours, theirs] = [value(berth), value(peerMeasured)];
    return ours === undefined || theirs === undefined ? undefined : ours / theirs;
  };
  const ratioColumns: ProxyId[] = peers.filter((peer) => berth && byId.has(peer));
  const loadOf = (m: ProxyMeasurements, kind: ResponseKind, connections: number) => m.loads[kind].get(connections);

  printHeader(report);

  const rows = responseKinds.flatMap((kind) => settings.connections.map((connections) => ({ kind, connections })));
  const rowName = (kind: ResponseKind, connections: number) => [pathOf[kind], String(connections)];
  const failedNote = (kind: ResponseKind, connections: number) => {
    const failed = measured.filter((m) => (loadOf(m, kind, connections)?.failed ?? 0) > 0);
    return failed.length > 0 ? `INVALID (failed requests: ${failed.map((m) => `${m.label} ${loadOf(m, kind, connections)!.failed}`).join(', ')})` : undefined;
  };
  const verdict = (kind: ResponseKind, connections: number, value: number | undefined, passes: (value: number) => boolean) =>
    failedNote(kind, connections) ?? (value === undefined ? '' : passes(value) ? 'PASS' : 'MISS');

  console.log('Requests per second (wrk -t1; higher is better)');
  printTable(
    ['RESPONSE', 'CONNECTIONS', ...measured.map((m) => columnName[m.id]), ...ratioColumns.map((peer) => `BERTH÷${columnName[peer]}`), 'TARGET', 'RESULT'],
    rows.map(({ kind, connections }) => {
      const requestRate = (m: ProxyMeasurements) => loadOf(m, kind, connections)?.requestsPerSecond;
      const vsChp = ratio('chp', requestRate);
      return [
        ...rowName(kind, connections),
        ...measured.map((m) => rate(requestRate(m) ?? NaN)),
        ...ratioColumns.map((peer) => ratioText(ratio(peer, requestRate))),
        `≥ ${requestRateTarget[kind].toFixed(2)}× CHP`,
        verdict(kind, connections, vsChp, (value) => value >= requestRateTarget[kind]),
      ];
    }),
  );
  console.log('');
  console.log('Latency p50 / p99 (wrk --latency; lower is better)');
  printTable(
    ['RESPONSE', 'CONNECTIONS', ...measured.map((m) => columnName[m.id]), ...ratioColumns.map((peer) => `p99 BERTH÷${columnName[peer]}`), 'TARGET', 'RESULT'],
    rows.map(({ kind, connections }) => {
      const p99 = (m: ProxyMeasurements) => loadOf(m, kind, connections)?.p99Ms;
      const vsChp = ratio('chp', p99);
      return [
        ...rowName(kind, connections),
        ...measured.map((m) => {
          const result = loadOf(m, kind, connections);
          return result ? `${ms(result.p50Ms)} / ${ms(result.p99Ms)}` : '';
        }),
        ...ratioColumns.map((peer) => ratioText(ratio(peer, p99))),
        `p99 ≤ ${p99Target.toFixed(2)}× CHP`,
        verdict(kind, connections, vsChp, (value) => value <= p99Target),
      ];
    }),
  );
  console.log('');
  printCpu(report, rows, ratio, ratioColumns);
  console.log('');
  printWebSockets(report, ratio, ratioColumns);
  console.log('');
  printTargets(report, byId);
  printCookie(report.cookie, berth);
  if (report.serverErrors.length > 0) {
    console.log('');
    console.log(`the proxies logged ${report.serverErrors.length} error lines, e.g.:`);
    for (const line of report.serverErrors.slice(0, 10)) console.log(`  ${line.slice(0, 300)}`);
  }
}

/** How each path to the upstream was set up, for the report's header. */
const setupOf: Record<ProxyId, (versions: ProxyReport['versions']) => { title: string; setup: string }> = {
  berth: () => ({
    title: 'Berth (proxy + tunnel + agent)',
    setup:
      '`berth up` + the session agent bundle (as the runners start it) with `--sidecar` attached to the upstream (one session in workspace admin), every request ' +
      'authenticated (Host <session>.localhost, Berth-Session-Token: an API token)',
  }),
  chp: (versions) => ({
    title: `configurable-http-proxy ${versions.chp}`,
    setup: 'route / added through its REST API, no auth (as JupyterHub runs it, behind its own)',
  }),
  nginx: (versions) => ({ title: `nginx ${versions.nginx}`, setup: '1 worker, upstream keepalive over HTTP/1.1, default buffering, no access log' }),
  floor: (versions) => ({
    title: 'the two-hop floor',
    setup:
      `nginx ${versions.nginx} in front of nginx, both as above: two processes on the path like Berth's server and agent, ` +
      'doing nothing else; a target this floor misses is out of reach for any design with a second process on the path here',
  }),
  nodefloor: () => ({
    title: 'the Node floor',
    setup:
      "a minimal Node reverse proxy (parse, http.request over kept-alive connections, pipe) in front of a Node byte relay: two Node " +
      "processes on the path, the first parsing every request as Berth's server must, the second copying bytes as Berth's agent " +
      'does, with no authentication and no multiplexing; a req/s target this floor misses is out of reach for a Node server and ' +
      'agent here (its p99 is shown, but a tail is no bound)',
  }),
  direct: () => ({ title: 'direct to the upstream', setup: 'no proxy: the reference' }),
};

function printHeader(report: ProxyReport): void {
  const { settings, versions } = report;
  const setups = report.measured.map((m) => ({ label: m.label, ...setupOf[m.id](versions) }));
  console.log('');
  console.log(`Proxy benchmark: ${[...setups].reverse().map((s) => s.title).join(' vs ')}, loopback, one run`);
  console.log(
    `upstream: a Node http server in its own process: ${upstreamPaths.small} (${smallBody.length} bytes), ${upstreamPaths.large} (1 MiB), a WebSocket echo; ` +
      'every path checked to pass both responses byte for byte',
  );
  for (const { label, setup } of setups) console.log(`${label}: ${setup}`);
  console.log(
    `load: wrk -t1 --latency, ${settings.loadSeconds} s per run after a ${settings.warmUpSeconds} s warm-up per proxy and response; ` +
      `${settings.repeats > 1 ? `${settings.repeats} runs each, every figure the median of its runs; ` : ''}the proxies take turns in a rotating order`,
  );
  console.log(`machine: ${cpus().length} cores shared by wrk, the upstream and the proxy's processes`);
  console.log(backgroundLine(report.background));
  console.log('ratios: Berth ÷ peer (req/s: higher is better; latency and memory: lower is better)');
  console.log('');
}

type Ratio = (peer: ProxyId, value: (m: ProxyMeasurements) => number | undefined) => number | undefined;

/**
 * CPU time of the proxy's own processes per request: what the proxy costs regardless of how the
 * machine's cores are shared between it, the upstream and wrk.
 */
function printCpu(report: ProxyReport, rows: Array<{ kind: ResponseKind; connections: number }>, ratio: Ratio, ratioColumns: ProxyId[]): void {
  const proxies = report.measured.filter((m) => m.roles.length > 0);
  const perRequest = (m: ProxyMeasurements, kind: ResponseKind, connections: number) => {
    const load = m.loads[kind].get(connections);
    return load && load.completed > 0 ? load.cpuSeconds.map((seconds) => (seconds * 1e6) / load.completed) : undefined;
  };
  const total = (values: number[] | undefined) => values?.reduce((sum, value) => sum + value, 0);
  const cell = (m: ProxyMeasurements, kind: ResponseKind, connections: number) => {
    const parts = perRequest(m, kind, connections);
    if (!parts) return '';
    const breakdown = parts.length > 1 ? ` (${parts.map((part, i) => `${m.roles[i]} ${part.toFixed(0)}`).join(' + ')})` : '';
    return `${total(parts)!.toFixed(0)} µs${breakdown}`;
  };
  console.log("CPU time per request of the proxy's processes (user + system; lower is better)");
  printTable(
    ['RESPONSE', 'CONNECTIONS', ...proxies.map((m) => columnName[m.id]), ...ratioColumns.map((peer) => `BERTH÷${columnName[peer]}`)],
    rows.map(({ kind, connections }) => [
      pathOf[kind],
      String(connections),
      ...proxies.map((m) => cell(m, kind, connections)),
      ...ratioColumns.map((peer) => ratioText(ratio(peer, (m) => total(perRequest(m, kind, connections))))),
    ]),
  );
}

function printWebSockets(report: ProxyReport, ratio: Ratio, ratioColumns: ProxyId[]): void {
  const { settings, measured } = report;
  const idle = (m: ProxyMeasurements) => m.idleSockets;
  const perThousand = (m: ProxyMeasurements) => {
    const result = idle(m);
    return result ? (median(result.steps.map((step) => step.rssAfterBytes - step.rssBeforeBytes)) * 1000) / result.count : undefined;
  };
  const metrics: Array<{ name: string; value: (m: ProxyMeasurements) => number | undefined; format: (value: number) => string }> = [
    { name: `echo round trip p50 (${settings.wsRounds} sequential)`, value: (m) => percentile(m.echoMs, 50), format: ms },
    { name: 'echo round trip p99', value: (m) => percentile(m.echoMs, 99), format: ms },
    { name: `upgrade p50 (${settings.idleSockets} sequential opens)`, value: (m) => (idle(m) ? percentile(idle(m)!.upgradeMs, 50) : undefined), format: ms },
    { name: 'upgrade p99', value: (m) => (idle(m) ? percentile(idle(m)!.upgradeMs, 99) : undefined), format: ms },
    { name: 'proxy RSS before the idle sockets', value: (m) => idle(m)?.steps[0]?.rssBeforeBytes, format: formatBytes },
    { name: 'proxy RSS per 1,000 idle WebSockets (median step)', value: perThousand, format: signedBytes },
  ];
  console.log(
    `WebSockets (RSS: all the proxy's processes, for Berth its server and agent; ${settings.idleSteps} step${settings.idleSteps === 1 ? '' : 's'} of ${settings.idleSockets} more idle sockets, ` +
      'opened one after another and all kept open, RSS read at each step after 1 s idle and, for Node proxies, a full GC)',
  );
  printTable(
    ['METRIC', ...measured.map((m) => columnName[m.id]), ...ratioColumns.map((peer) => `BERTH÷${columnName[peer]}`)],
    metrics.map((metric) => [
      metric.name,
      ...measured.map((m) => {
        const value = metric.value(m);
        return value === undefined || Number.isNaN(value) ? '—' : metric.format(value);
      }),
      ...ratioColumns.map((peer) => ratioText(ratio(peer, metric.value))),
    ]),
  );
}

type TargetMetric = 'req/s' | 'p99';

/**
 * The floors a target is checked against, as the target lines name them, and the targets each bounds:
 * the Node floor's throughput is a bound, its tail is not (Berth's p99 can beat it, and does).
 */
const floors: Array<{ id: ProxyId; name: string; bounds: ReadonlySet<TargetMetric> }> = [
  { id: 'floor', name: 'two-hop floor', bounds: new Set(['req/s', 'p99']) },
  { id: 'nodefloor', name: 'Node floor', bounds: new Set(['req/s']) },
];

/**
 * One PASS/MISS line per target of the issue (Berth against configurable-http-proxy), each with the
 * floors' own ratios when they were measured: a MISS where a floor misses too is out of reach.
 */
function printTargets(report: ProxyReport, byId: Map<ProxyId, ProxyMeasurements>): void {
  const berth = byId.get('berth');
  const chp = byId.get('chp');
  if (!berth || !chp) {
    console.log('targets: not checked (Berth and configurable-http-proxy were not both measured)');
    return;
  }
  const measuredFloors = floors.flatMap((floor) => (byId.has(floor.id) ? [{ ...floor, measured: byId.get(floor.id)! }] : []));
  const lines: Array<{ ok: boolean | undefined; reachable: boolean; text: string }> = [];
  for (const kind of responseKinds) {
    for (const connections of report.settings.connections) {
      const [ours, theirs] = [berth.loads[kind].get(connections), chp.loads[kind].get(connections)];
      if (!ours || !theirs) continue;
      const where = `${pathOf[kind].padEnd(6)} c=${String(connections).padEnd(3)}`;
      const invalid = ours.failed > 0 || theirs.failed > 0;
      const targets: Array<{ what: TargetMetric; value: (load: LoadResult) => number; meets: (ratio: number) => boolean; target: string; format: (value: number) => string }> = [
        { what: 'req/s', value: (load: LoadResult) => load.requestsPerSecond, meets: (ratio: number) => ratio >= requestRateTarget[kind], target: `≥ ${requestRateTarget[kind].toFixed(2)}×`, format: rate },
        { what: 'p99', value: (load: LoadResult) => load.p99Ms, meets: (ratio: number) => ratio <= p99Target, target: `≤ ${p99Target.toFixed(2)}×`, format: ms },
      ];
      for (const { what, value, meets, target, format } of targets) {
        const ratio = value(ours) / value(theirs);
        const floorRatios = measuredFloors.flatMap(({ name, measured, bounds }) => {
          const load = measured.loads[kind].get(connections);
          return load && load.failed === 0 ? [{ name, bound: bounds.has(what), ratio: value(load) / value(theirs) }] : [];
        });
        lines.push({
          ok: invalid ? undefined : meets(ratio),
          reachable: floorRatios.every((floor) => !floor.bound || meets(floor.ratio)),
          text:
            `${where} ${what} ${ratio.toFixed(2)}× CHP's (${format(value(ours))} vs ${format(value(theirs))}; target ${target})` +
            floorRatios.map((floor) => `; ${floor.name} ${floor.ratio.toFixed(2)}×${floor.bound ? '' : ' (no bound)'}`).join(''),
        });
      }
    }
  }
  const met = lines.filter((line) => line.ok === true).length;
  const outOfReach = lines.filter((line) => line.ok === false && !line.reachable).length;
  console.log(
    `targets (issue 5: Berth vs configurable-http-proxy): ${met} of ${lines.length} met` +
      (measuredFloors.length > 0 ? `; ${outOfReach} missed are out of reach (a floor that bounds them misses them too)` : ''),
  );
  for (const line of lines) {
    const verdict = line.ok === undefined ? 'INVALID' : line.ok ? 'PASS' : line.reachable ? 'MISS' : 'MISS (out of reach)';
    console.log(`  ${verdict.padEnd(19)}  ${line.text}`);
  }
}

function printCookie(cookie: CookieMeasurement | undefined, berth: ProxyMeasurements | undefined): void {
  if (!cookie || !berth) return;
  console.log('');
  const token = berth.loads.small.get(cookie.connections);
  const { result } = cookie;
  console.log(
    `Berth with the studio cookie (browser login) instead of Berth-Session-Token, ${upstreamPaths.small} c=${cookie.connections}: ` +
      `${rate(result.requestsPerSecond)}, p50 ${ms(result.p50Ms)} / p99 ${ms(result.p99Ms)}` +
      (token ? ` (token header: ${rate(token.requestsPerSecond)}, ${ratioText(result.requestsPerSecond / token.requestsPerSecond)})` : '') +
      (result.failed > 0 ? ` — INVALID: ${result.failed} failed requests` : ''),
  );
}
