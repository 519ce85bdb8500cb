import { cpus } from 'node:os';
import { printTable } from '../../src/cli/output.ts';
import { formatBytes, median, MiB, backgroundLine } from '../support/measure.ts';
import type { PullThroughSettings } from './settings.ts';
import type { BlobTiming, CopyTiming } from './transfers.ts';

/** One skopeo pull: wall time, and the CPU seconds each party spent on it. */
export interface PullSample extends CopyTiming {
  upstreamCpuSeconds: number;
  /** 0 for a pull straight from the upstream. */
  berthCpuSeconds: number;
}

/** Every sample of one run, in repetition order; times in seconds. */
export interface PullThroughMeasurements {
  direct: PullSample[];
  cold: PullSample[];
  warm: PullSample[];
  /** skopeo copying the image from a local OCI layout: what the client alone needs. */
  clientFloor: CopyTiming[];
  directBlob: BlobTiming[];
  coldBlob: BlobTiming[];
  warmBlob: BlobTiming[];
  /** Berth's RSS before its cold pull, and its peak during it, per repetition. */
  idleRssBytes: number[];
  coldPullPeakRssBytes: number[];
}

export interface PullThroughReport {
  settings: PullThroughSettings;
  imageBytes: number;
  largestLayerBytes: number;
  measured: PullThroughMeasurements;
  /** Share of the cores busy with other work just before and after the measurements (0–1). */
  background: { before: number; after: number };
  serverErrors: string[];
}

interface Row {
  name: string;
  direct: number[];
  berth: number[];
  format: (seconds: number) => string;
  /** Largest Berth ÷ direct ratio the issue accepts. */
  target?: number;
}

const seconds = (value: number) => `${value.toFixed(2)} s`;
const milliseconds = (value: number) => `${(value * 1000).toFixed(1)} ms`;
/** Buffering a whole layer shows as growth of at least one layer; smaller layers drown in heap noise. */
const smallestTellingLayerBytes = 64 * MiB;

export function printReport(report: PullThroughReport): void {
  const { settings, measured: m } = report;
  const wall = (samples: CopyTiming[]) => samples.map((s) => s.seconds);
  const firstByte = (timings: BlobTiming[]) => timings.map((t) => t.firstByteSeconds);
  const total = (timings: BlobTiming[]) => timings.map((t) => t.totalSeconds);
  const layer = formatBytes(report.largestLayerBytes);
  const rows: Row[] = [
    { name: 'pull, cold cache (skopeo → dir:)', direct: wall(m.direct), berth: wall(m.cold), format: seconds, target: 1.2 },
    { name: 'pull, warm cache (skopeo → dir:)', direct: wall(m.direct), berth: wall(m.warm), format: seconds, target: 0.8 },
    { name: `GET ${layer} layer, cold: first byte (curl)`, direct: firstByte(m.directBlob), berth: firstByte(m.coldBlob), format: milliseconds, target: 1.2 },
    { name: `GET ${layer} layer, cold: total (curl)`, direct: total(m.directBlob), berth: total(m.coldBlob), format: seconds, target: 1.2 },
    { name: `GET ${layer} layer, warm: first byte (curl)`, direct: firstByte(m.directBlob), berth: firstByte(m.warmBlob), format: milliseconds },
    { name: `GET ${layer} layer, warm: total (curl)`, direct: total(m.directBlob), berth: total(m.warmBlob), format: seconds },
  ];

  console.log('');
  console.log('Pull-through cache benchmark: Berth caching a CNCF distribution 2.8 upstream vs pulling from that upstream directly, same machine, one run');
  console.log(
    `image: ${formatBytes(report.imageBytes)} in ${settings.layers} layers of ${layer} (random payload, tar+gzip with stored blocks); ` +
      `${settings.repeats} repetitions, medians; every cold measurement on a freshly started Berth with an empty data directory`,
  );
  console.log(
    `machine: ${cpus().length} cores shared by upstream, Berth and the client; Berth with SQLite; the upstream's blobs are in the page cache ` +
      `for every measurement; \`sync\` before each one`,
  );
  console.log(backgroundLine(report.background));
  console.log('ratio: Berth ÷ direct (times: lower is better)');
  console.log('');
  printTable(
    ['MEASUREMENT', 'DIRECT', 'THROUGH BERTH', 'RATIO', 'TARGET', 'RESULT'],
    rows.map((row) => {
      const ratio = median(row.berth) / median(row.direct);
      return [
        row.name,
        row.format(median(row.direct)),
        row.format(median(row.berth)),
        `${ratio.toFixed(2)}×`,
        row.target === undefined ? '' : `≤ ${row.target.toFixed(2)}×`,
        row.target === undefined ? '' : ratio <= row.target ? 'PASS' : 'MISS',
      ];
    }),
  );
  console.log('');
  printCpu(m);
  console.log('');
  printMemory(report);
  console.log('');
  console.log('samples (in repetition order):');
  const list = (values: number[], format: (value: number) => string) => values.map(format).join(' ');
  console.log(`  pull            direct ${list(wall(m.direct), seconds)} | cold ${list(wall(m.cold), seconds)} | warm ${list(wall(m.warm), seconds)} | client alone ${list(wall(m.clientFloor), seconds)}`);
  console.log(`  GET first byte  direct ${list(firstByte(m.directBlob), milliseconds)} | cold ${list(firstByte(m.coldBlob), milliseconds)} | warm ${list(firstByte(m.warmBlob), milliseconds)}`);
  console.log(`  GET total       direct ${list(total(m.directBlob), seconds)} | cold ${list(total(m.coldBlob), seconds)} | warm ${list(total(m.warmBlob), seconds)}`);
  if (report.serverErrors.length > 0) {
    console.log('');
    console.log(`the servers logged ${report.serverErrors.length} error lines, e.g.:`);
    for (const line of report.serverErrors.slice(0, 10)) console.log(`  ${line.slice(0, 300)}`);
  }
}

/**
 * Where the time of a pull goes: wall time against the CPU time of each party, and what skopeo
 * needs with no registry at all. The cores are shared, so CPU that Berth adds slows skopeo too.
 */
function printCpu(m: PullThroughMeasurements): void {
  const cpu = (values: number[]) => seconds(median(values));
  const row = (name: string, samples: PullSample[]): string[] => [
    name,
    seconds(median(samples.map((s) => s.seconds))),
    cpu(samples.map((s) => s.clientCpuSeconds)),
    cpu(samples.map((s) => s.upstreamCpuSeconds)),
    samples.some((s) => s.berthCpuSeconds > 0) ? cpu(samples.map((s) => s.berthCpuSeconds)) : '',
  ];
  printTable(
    ['PULL (medians)', 'WALL', 'SKOPEO CPU', 'UPSTREAM CPU', 'BERTH CPU'],
    [
      row('direct from the upstream', m.direct),
      row('cold, through Berth', m.cold),
      row('warm, from Berth', m.warm),
      ['skopeo alone: local OCI layout → dir:', seconds(median(m.clientFloor.map((s) => s.seconds))), cpu(m.clientFloor.map((s) => s.clientCpuSeconds)), '', ''],
    ],
  );
  const floor = median(m.clientFloor.map((s) => s.seconds));
  const warmLimit = 0.8 * median(m.direct.map((s) => s.seconds));
  if (floor > warmLimit) {
    console.log(
      `note: skopeo alone, with no registry, takes ${seconds(floor)}: more than the warm target's ${seconds(warmLimit)} (0.8× direct). ` +
        'With the upstream on the same machine, no registry can meet that target with this client.',
    );
  }
}

/** A fill must not buffer a layer: Berth's peak during a cold pull may not grow by a whole layer over its idle RSS. */
function printMemory(report: PullThroughReport): void {
  const { idleRssBytes, coldPullPeakRssBytes } = report.measured;
  const growth = Math.max(...coldPullPeakRssBytes.map((peak, i) => peak - idleRssBytes[i]!));
  const layer = report.largestLayerBytes;
  const result =
    layer < smallestTellingLayerBytes ? `n/a: layers under ${formatBytes(smallestTellingLayerBytes)} cannot tell buffering from heap noise` : growth < layer ? 'PASS' : 'MISS';
  console.log(
    `Berth's RSS: idle ${formatBytes(median(idleRssBytes))}, peak during a cold pull ${formatBytes(Math.max(...coldPullPeakRssBytes))}; ` +
      `memory stays flat (grows by less than one ${formatBytes(layer)} layer): +${formatBytes(Math.max(0, growth))} → ${result}`,
  );
}
