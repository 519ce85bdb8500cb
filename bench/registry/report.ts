import { cpus } from 'node:os';
import { printTable } from '../../src/cli/output.ts';
import type { GeneratedLayout } from '../../test/support/oci-image.ts';
import type { LoadResult } from '../support/load.ts';
import { formatBytes, formatRate, median, MiB, backgroundLine } from '../support/measure.ts';
import type { BenchSettings } from './settings.ts';

/** Everything measured for one registry; times in seconds, rates in bytes per second. */
export interface RegistryMeasurements {
  label: string;
  idleRssBytes: number;
  pushSeconds: number[];
  pullSeconds: number[];
  pushPeakRssBytes: number;
  pullPeakRssBytes: number;
  blobGetBytesPerSecond: number[];
  catBytesPerSecond: number[];
}

export interface Report {
  settings: BenchSettings;
  image: GeneratedLayout;
  distribution: RegistryMeasurements & { head: LoadResult; get: LoadResult };
  berth: RegistryMeasurements & { head: LoadResult; get: LoadResult };
  /** Share of the cores busy with other work just before and after the measurements (0–1). */
  background: { before: number; after: number };
  /** Error lines the servers logged during the run. */
  serverErrors: string[];
}

/** Buffering a whole layer shows as growth of at least one layer; smaller layers drown in heap noise. */
const smallestTellingLayerBytes = 64 * MiB;

type Better = 'higher' | 'lower';

interface Metric {
  name: string;
  distribution: number;
  berth: number;
  format: (value: number) => string;
  better: Better;
  /** Minimum ratio (Berth better when > 1) the issue asks for. */
  target?: number;
  /** Requests failed during the measurement: the numbers do not count. */
  failed?: { distribution: number; berth: number };
}

/** Berth ÷ distribution for "higher is better", distribution ÷ Berth for "lower is better": > 1 means Berth is better. */
function ratio(metric: Metric): number {
  return metric.better === 'higher' ? metric.berth / metric.distribution : metric.distribution / metric.berth;
}

function verdict(metric: Metric): string {
  if (metric.failed && (metric.failed.distribution > 0 || metric.failed.berth > 0)) {
    return `INVALID (failed requests: distribution ${metric.failed.distribution}, Berth ${metric.failed.berth})`;
  }
  if (metric.target === undefined) return '';
  return ratio(metric) >= metric.target ? 'PASS' : 'MISS';
}

export function printReport(report: Report): void {
  const { settings, image, distribution: d, berth: b } = report;
  const layers = image.images[0]!.layers;
  const imageBytes = layers.reduce((sum, layer) => sum + layer.size, 0) + image.images[0]!.config.size + image.images[0]!.manifest.size;
  const largestLayer = Math.max(...layers.map((layer) => layer.size));
  const seconds = (value: number) => `${value.toFixed(2)} s`;
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const perSecond = (value: number) => `${value.toFixed(0)} req/s`;
  const rate = formatRate;
  const throughput = (times: number[]) => imageBytes / median(times);
  const load = (name: string, tool: string, measure: 'head' | 'get', target?: number): Metric[] => [
    {
      name: `manifest ${name} (${tool}, ${settings.connections} connections)`,
      distribution: d[measure].requestsPerSecond,
      berth: b[measure].requestsPerSecond,
      format: perSecond,
      better: 'higher',
      target,
      failed: { distribution: d[measure].failed, berth: b[measure].failed },
    },
    { name: `manifest ${name} p99 latency`, distribution: d[measure].p99Ms, berth: b[measure].p99Ms, format: ms, better: 'lower' },
  ];
  const metrics: Metric[] = [
    { name: 'push wall time (skopeo)', distribution: median(d.pushSeconds), berth: median(b.pushSeconds), format: seconds, better: 'lower' },
    { name: 'push throughput', distribution: throughput(d.pushSeconds), berth: throughput(b.pushSeconds), format: rate, better: 'higher', target: 1 },
    { name: 'pull wall time (skopeo)', distribution: median(d.pullSeconds), berth: median(b.pullSeconds), format: seconds, better: 'lower' },
    { name: 'pull throughput', distribution: throughput(d.pullSeconds), berth: throughput(b.pullSeconds), format: rate, better: 'higher', target: 1 },
    ...load('HEAD', 'ab -k, 1 thread', 'head', 2),
    ...load('GET', `wrk -t${settings.wrkThreads}`, 'get'),
    {
      name: `blob GET of ${formatBytes(largestLayer)} (curl, warm)`,
      distribution: median(d.blobGetBytesPerSecond),
      berth: median(b.blobGetBytesPerSecond),
      format: rate,
      better: 'higher',
      target: 1,
    },
    { name: '  limit: cat of the served file', distribution: median(d.catBytesPerSecond), berth: median(b.catBytesPerSecond), format: rate, better: 'higher' },
  ];

  console.log('');
  console.log(`Registry benchmark: Berth vs CNCF distribution 2.8 (docker-registry), same machine, same image, one run`);
  console.log(
    `image: ${formatBytes(imageBytes)} in ${layers.length} layers of ${formatBytes(largestLayer)} (random payload, tar+gzip with stored blocks: ` +
      `incompressible, so no client recompresses and the wire carries the payload); ${settings.repeats} repetitions, medians`,
  );
  console.log(
    `manifest loads: ${settings.loadRounds} rounds of ${settings.loadSeconds} s per registry after a warm-up, medians; ` +
      `blob GETs: ${settings.blobGets} after a warm-up, medians`,
  );
  console.log(
    `machine: ${cpus().length} cores shared by the server and its client (skopeo, ab, wrk, curl); Berth with SQLite, distribution without auth ` +
      `and without request logging`,
  );
  console.log(backgroundLine(report.background));
  console.log(`ratio: Berth ÷ distribution for rates, distribution ÷ Berth for times and latencies, so > 1.00× always means Berth is better`);
  console.log('');
  printTable(
    ['METRIC', 'DISTRIBUTION', 'BERTH', 'RATIO', 'TARGET', 'RESULT'],
    metrics.map((metric) => [
      metric.name,
      metric.format(metric.distribution),
      metric.format(metric.berth),
      `${ratio(metric).toFixed(2)}×`,
      metric.target === undefined ? '' : `≥ ${metric.target.toFixed(2)}×`,
      verdict(metric),
    ]),
  );
  console.log(
    'note: wrk\'s p99 against a Node server with 500 fresh connections has 0.5–3 s outliers even for a bare hello-world ' +
      'server on this machine, while ab\'s p99 stays low; the HEAD row is the latency to read.',
  );
  console.log('');
  printMemory(d, b, largestLayer);
  console.log('');
  console.log('samples (seconds, in repetition order):');
  for (const m of [d, b]) {
    console.log(`  ${m.label.padEnd(12)} push ${m.pushSeconds.map((s) => s.toFixed(2)).join(' ')} | pull ${m.pullSeconds.map((s) => s.toFixed(2)).join(' ')}`);
  }
  for (const m of [d, b]) {
    console.log(`  ${m.label.padEnd(12)} blob GET ${m.blobGetBytesPerSecond.map((r) => formatRate(r)).join(' ')}`);
  }
  if (report.serverErrors.length > 0) {
    console.log('');
    console.log(`the servers logged ${report.serverErrors.length} error lines, e.g.:`);
    for (const line of report.serverErrors.slice(0, 10)) console.log(`  ${line.slice(0, 300)}`);
  }
}

/** Memory is judged on Berth alone: its peak RSS may not grow by a whole layer over its idle RSS. */
function printMemory(d: RegistryMeasurements, b: RegistryMeasurements, largestLayer: number): void {
  const peak = Math.max(b.pushPeakRssBytes, b.pullPeakRssBytes);
  const growth = peak - b.idleRssBytes;
  const result =
    largestLayer < smallestTellingLayerBytes
      ? `n/a: layers under ${formatBytes(smallestTellingLayerBytes)} cannot tell buffering from heap noise`
      : growth < largestLayer
        ? 'PASS'
        : 'MISS';
  printTable(
    ['PEAK RSS', 'DISTRIBUTION', 'BERTH'],
    [
      ['idle, before the first push', formatBytes(d.idleRssBytes), formatBytes(b.idleRssBytes)],
      ['during push', formatBytes(d.pushPeakRssBytes), formatBytes(b.pushPeakRssBytes)],
      ['during pull', formatBytes(d.pullPeakRssBytes), formatBytes(b.pullPeakRssBytes)],
    ],
  );
  console.log(`memory stays flat (Berth's peak grows by less than one ${formatBytes(largestLayer)} layer): +${formatBytes(Math.max(0, growth))} → ${result}`);
}
