/**
 * Registry benchmark: Berth against CNCF distribution 2.8 on this machine, with the same image,
 * in one run. Push and pull with skopeo, manifest HEADs under 500 connections, and blob GETs
 * with curl against `cat` of the same file. Prints medians and Berth ÷ distribution ratios.
 *
 *   node --import tsx bench/registry/run.ts          (or `npm run bench`)
 *
 * Environment: BENCH_IMAGE_MIB (1024), BENCH_LAYERS (8), BENCH_REPEATS (5), BENCH_SECONDS (10,
 * per load run), BENCH_LOAD_ROUNDS (2), BENCH_CONNECTIONS (500), BENCH_WRK_THREADS (1), BENCH_BLOB_GETS (9),
 * BENCH_BERTH_NODE_FLAGS (extra node flags for Berth, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../test/support/processes.ts';
import { writeOciLayout, type GeneratedLayout } from '../../test/support/oci-image.ts';
import { Cleanup } from '../support/cleanup.ts';
import { getLoad, headLoad, type LoadResult } from '../support/load.ts';
import { busyShare, formatBytes, median, MiB, residentBytes, timed, withPeakRss } from '../support/measure.ts';
import { startBerthProcess, startDistribution, type BenchRegistry } from '../support/registries.ts';
import { printReport, type RegistryMeasurements } from './report.ts';
import { settingsFromEnvironment, type BenchSettings } from './settings.ts';
import { deleteImage, pullImage, pushImage } from './transfers.ts';

const manifestAccept = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Writes dirty pages out, so that one registry's writes are not flushed during the next one's measurement. */
async function settle(): Promise<void> {
  await run('sync', []);
}

function emptyMeasurements(registry: BenchRegistry): RegistryMeasurements {
  return {
    label: registry.label,
    idleRssBytes: residentBytes(registry.server.pid) ?? 0,
    pushSeconds: [],
    pullSeconds: [],
    pushPeakRssBytes: 0,
    pullPeakRssBytes: 0,
    blobGetBytesPerSecond: [],
    catBytesPerSecond: [],
  };
}

/** Push, pull and (except after the last repetition) delete, alternating which registry goes first. */
async function measureTransfers(
  settings: BenchSettings,
  image: GeneratedLayout,
  registries: BenchRegistry[],
  results: Map<BenchRegistry, RegistryMeasurements>,
  workDir: string,
  repositoryPath: (repetition: number) => string,
): Promise<void> {
  for (let repetition = 0; repetition < settings.repeats; repetition++) {
    const order = repetition % 2 === 0 ? registries : [...registries].reverse();
    for (const registry of order) {
      const measured = results.get(registry)!;
      const repository = registry.repository(repositoryPath(repetition));
      await settle();
      const push = await withPeakRss(registry.server.pid, () => timed(() => pushImage(registry, image, repository)));
      measured.pushSeconds.push(push.result.seconds);
      measured.pushPeakRssBytes = Math.max(measured.pushPeakRssBytes, push.peakBytes);
      await settle();
      const destination = join(workDir, `pull-${registry.label}-${repetition}`);
      const pull = await withPeakRss(registry.server.pid, () => timed(() => pullImage(registry, repository, image.tag, destination)));
      measured.pullSeconds.push(pull.result.seconds);
      measured.pullPeakRssBytes = Math.max(measured.pullPeakRssBytes, pull.peakBytes);
      await rm(destination, { recursive: true, force: true });
      progress(`repetition ${repetition + 1}/${settings.repeats} ${registry.label}: push ${push.result.seconds.toFixed(2)} s, pull ${pull.result.seconds.toFixed(2)} s`);
      if (repetition < settings.repeats - 1) await deleteImage(registry, image, repository);
    }
  }
}

type LoadKind = 'head' | 'get';

/** One warmed-up load run of manifest HEADs (ab) or GETs (wrk) against the last pushed image. */
async function manifestLoad(
  settings: BenchSettings,
  registry: BenchRegistry,
  target: { repository: string; tag: string },
  kind: LoadKind,
  options: { scriptDir: string; warm: boolean },
): Promise<LoadResult> {
  const { repository, tag } = target;
  const authorization = await registry.pullAuthorization(repository);
  const headers: Record<string, string> = { Accept: manifestAccept, ...(authorization ? { Authorization: authorization } : {}) };
  const base = { url: `http://${registry.host}/v2/${repository}/manifests/${tag}`, headers, connections: settings.connections };
  const load = (seconds: number) => (kind === 'head' ? headLoad({ ...base, seconds }) : getLoad({ ...base, seconds, threads: settings.wrkThreads, scriptDir: options.scriptDir }));
  if (!options.warm) await load(Math.min(3, settings.loadSeconds));
  const result = await load(settings.loadSeconds);
  progress(`${registry.label}: ${result.requestsPerSecond.toFixed(0)} manifest ${kind.toUpperCase()}s/s, p99 ${result.p99Ms.toFixed(1)} ms, ${result.failed} failed`);
  return result;
}

/** Median rate and p99 over the rounds; failures add up. */
function combineLoads(results: LoadResult[]): LoadResult {
  return {
    requestsPerSecond: median(results.map((r) => r.requestsPerSecond)),
    p50Ms: median(results.map((r) => r.p50Ms)),
    p99Ms: median(results.map((r) => r.p99Ms)),
    completed: results.reduce((sum, r) => sum + r.completed, 0),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
  };
}

/** Manifest HEADs and GETs, in rounds that alternate which registry goes first. */
async function measureManifestLoads(
  settings: BenchSettings,
  registries: BenchRegistry[],
  repository: (registry: BenchRegistry) => string,
  tag: string,
  scriptDir: string,
): Promise<Map<BenchRegistry, Record<LoadKind, LoadResult>>> {
  const rounds = new Map(registries.map((registry) => [registry, { head: [] as LoadResult[], get: [] as LoadResult[] }] as const));
  await settle();
  for (const kind of ['head', 'get'] as const) {
    for (let round = 0; round < settings.loadRounds; round++) {
      for (const registry of round % 2 === 0 ? registries : [...registries].reverse()) {
        const target = { repository: repository(registry), tag };
        rounds.get(registry)![kind].push(await manifestLoad(settings, registry, target, kind, { scriptDir, warm: round > 0 }));
      }
    }
  }
  return new Map([...rounds].map(([registry, measured]) => [registry, { head: combineLoads(measured.head), get: combineLoads(measured.get) }]));
}

/** curl's average download speed for the whole blob, after checking status and length. */
async function curlBlob(registry: BenchRegistry, repository: string, digest: string, size: number): Promise<number> {
  const authorization = await registry.pullAuthorization(repository);
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}', ...(authorization ? ['-H', `Authorization: ${authorization}`] : [])];
  const { stdout } = await run('curl', [...args, `http://${registry.host}/v2/${repository}/blobs/${digest}`]);
  const [status, downloaded, speed] = stdout.trim().split(' ').map(Number);
  if (status !== 200 || downloaded !== size) throw new Error(`${registry.label}: blob GET answered ${status} with ${downloaded} of ${size} bytes`);
  return speed!;
}

/**
 * `cat FILE > /dev/null` of the file the registry serves, timed by bash. Small files are read
 * several times per timing, so that bash's millisecond resolution and the fork+exec do not count.
 */
async function catRate(file: string, size: number): Promise<number> {
  const times = Math.min(100, Math.max(1, Math.ceil((512 * MiB) / size)));
  const script = 'TIMEFORMAT=%3R; time (for ((i = 0; i < $2; i++)); do cat "$1"; done > /dev/null)';
  const { stderr } = await run('bash', ['-c', script, 'bash', file, String(times)]);
  const seconds = Math.max(Number(stderr.trim().split('\n').pop()), 0.001);
  return (size * times) / seconds;
}

async function measureBlobGets(
  settings: BenchSettings,
  image: GeneratedLayout,
  registries: BenchRegistry[],
  results: Map<BenchRegistry, RegistryMeasurements>,
  repository: (registry: BenchRegistry) => string,
): Promise<void> {
  const largest = [...image.images[0]!.layers].sort((a, b) => b.size - a.size)[0]!;
  for (const registry of registries) {
    const file = registry.blobFile(largest.digest);
    if ((await stat(file)).size !== largest.size) throw new Error(`${registry.label}: ${file} is not the blob's ${largest.size} bytes`);
  }
  await settle();
  // Round 0 warms caches and is not counted; later rounds alternate the registries.
  for (let round = 0; round <= settings.blobGets; round++) {
    for (const registry of round % 2 === 0 ? registries : [...registries].reverse()) {
      const speed = await curlBlob(registry, repository(registry), largest.digest, largest.size);
      const limit = await catRate(registry.blobFile(largest.digest), largest.size);
      if (round === 0) continue;
      results.get(registry)!.blobGetBytesPerSecond.push(speed);
      results.get(registry)!.catBytesPerSecond.push(limit);
    }
  }
  progress(`blob GET of ${formatBytes(largest.size)}: ${registries.map((r) => `${r.label} ${formatBytes(median(results.get(r)!.blobGetBytesPerSecond))}/s`).join(', ')}`);
}

/** Lines of a server's log that report a failure. */
async function loggedErrors(registry: BenchRegistry): Promise<string[]> {
  const log = await readFile(registry.server.logFile, 'utf8');
  return log
    .split('\n')
    .filter((line) => registry.isFailureLogLine(line))
    .map((line) => `${registry.label}: ${line}`);
}

async function main(): Promise<void> {
  const settings = settingsFromEnvironment();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-'));
    cleanup.defer(`removing ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
    const layerBytes = Math.floor(settings.imageBytes / settings.layers);
    progress(`writing an OCI layout: ${settings.layers} layers of ${formatBytes(layerBytes)} (random, gzip level 0)`);
    const image = await writeOciLayout({ dir: join(workDir, 'layout'), layers: settings.layers, layerBytes, gzipLevel: 0 });

    const distribution = await startDistribution(join(workDir, 'distribution'));
    cleanup.defer('stopping distribution', () => distribution.server.stop());
    const berth = await startBerthProcess(join(workDir, 'berth'));
    cleanup.defer('stopping Berth', () => berth.server.stop());
    progress(`distribution on ${distribution.host} (pid ${distribution.server.pid}), Berth on ${berth.host} (pid ${berth.server.pid})`);

    const registries = [distribution, berth];
    const busyBefore = await busyShare();
    const results = new Map(registries.map((registry) => [registry, emptyMeasurements(registry)] as const));
    const runId = Date.now().toString(36);
    const repositoryPath = (repetition: number) => `bench-${runId}-${repetition}`;
    await measureTransfers(settings, image, registries, results, workDir, repositoryPath);
    // The last repetition's image stays for the manifest and blob measurements.
    const lastRepository = (registry: BenchRegistry) => registry.repository(repositoryPath(settings.repeats - 1));

    const loads = await measureManifestLoads(settings, registries, lastRepository, image.tag, workDir);
    await measureBlobGets(settings, image, registries, results, lastRepository);

    printReport({
      settings,
      image,
      distribution: { ...results.get(distribution)!, ...loads.get(distribution)! },
      berth: { ...results.get(berth)!, ...loads.get(berth)! },
      background: { before: busyBefore, after: await busyShare() },
      serverErrors: [...(await loggedErrors(distribution)), ...(await loggedErrors(berth))],
    });
  } finally {
    await cleanup.run();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
