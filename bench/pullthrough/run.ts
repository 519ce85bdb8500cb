/**
 * Pull-through cache benchmark: a CNCF distribution 2.8 upstream holds an image; Berth caches it
 * through a pull-through cache rule created with the ECR API. In one run, on one machine:
 *   - direct: skopeo pulls the image from the upstream;
 *   - cold: skopeo pulls it through a Berth that has nothing cached (a fresh Berth per repetition);
 *   - warm: skopeo pulls it through that Berth again;
 *   - client floor: skopeo copies the same image from a local OCI layout, no registry involved;
 *   - the largest layer's blob GET with curl (first byte, total): direct, cold through a second
 *     fresh Berth (after the manifest and config, as a client asks), then warm through it.
 * Prints medians, CPU time per party, and Berth ÷ direct against the targets (cold ≤ 1.2×,
 * warm ≤ 0.8×).
 *
 *   node --import tsx bench/pullthrough/run.ts          (or `npm run bench -- pullthrough`)
 *
 * Environment: BENCH_PULLTHROUGH_MIB (500), BENCH_PULLTHROUGH_LAYERS (4), BENCH_REPEATS (3),
 * BENCH_BERTH_NODE_FLAGS (extra node flags for Berth, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"),
 * BENCH_PULLTHROUGH_BERTH_DIR (where Berth's data directories go instead of the run's temporary
 * directory, e.g. /dev/shm to take Berth's disk writes out of the comparison).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ociReference, writeOciLayout, type Descriptor, type GeneratedLayer, type GeneratedLayout } from '../../test/support/oci-image.ts';
import { run } from '../../test/support/processes.ts';
import { Cleanup } from '../support/cleanup.ts';
import { busyShare, formatBytes, MiB, residentBytes, withPeakRss } from '../support/measure.ts';
import { startDistribution, type BenchRegistry } from '../support/registries.ts';
import { startPullThroughCache, type PullThroughCache } from './cache.ts';
import { withCpuSeconds } from '../support/cpu.ts';
import { printReport, type PullSample, type PullThroughMeasurements } from './report.ts';
import { settingsFromEnvironment } from './settings.ts';
import { timeBlobGet, timeCopy, timePull } from './transfers.ts';

/** Where the image lives upstream (distribution's repository names need no workspace). */
const upstreamPath = 'pull';
/** A small image that warms a freshly started Berth up through the same rule, sharing no blob with the measured one. */
const warmUpPath = 'warm-up';

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Writes dirty pages out, so that one measurement's writes are not flushed during the next. */
async function settle(): Promise<void> {
  await run('sync', []);
}

interface Scene {
  image: GeneratedLayout;
  warmUpImage: GeneratedLayout;
  upstream: BenchRegistry;
  upstreamRepository: string;
  largestLayer: GeneratedLayer;
  manifest: Descriptor;
  config: Descriptor;
  workDir: string;
  /** Where each fresh Berth gets its data directory. */
  berthRoot: string;
  cleanup: Cleanup;
  serverErrors: string[];
  measured: PullThroughMeasurements;
}

/**
 * A fresh cache for one measurement, stopped and removed by `use`'s end (or by the cleanup on
 * failure). A cold cache is not a cold process: before `use`, a small unrelated image is pulled
 * through the same rule (not timed), so that the measured pull does not pay for compiling Berth's
 * code and preparing its queries, which a Berth that has been up a while has long done.
 */
async function withFreshCache<T>(scene: Scene, name: string, use: (cache: PullThroughCache) => Promise<T>): Promise<T> {
  const cache = await startPullThroughCache(join(scene.berthRoot, name), scene.upstream.host, scene.upstreamRepository);
  scene.cleanup.defer(`stopping Berth (${name})`, async () => void (await cache.stop()));
  try {
    const warmUpRepository = cache.berth.repository(`${cache.prefix}/${scene.upstream.repository(warmUpPath)}`);
    await timePull(cache.berth, warmUpRepository, scene.warmUpImage.tag, join(scene.workDir, `${name}-warm-up`));
    return await use(cache);
  } finally {
    scene.serverErrors.push(...(await cache.stop()));
  }
}

/** One skopeo pull, with the CPU time the upstream and Berth (when given) spent on it. */
async function measuredPull(scene: Scene, registry: BenchRegistry, repository: string, destination: string, berth?: BenchRegistry): Promise<PullSample> {
  await settle();
  const pids = [scene.upstream.server.pid, ...(berth ? [berth.server.pid] : [])];
  const { cpu, result } = await withCpuSeconds(pids, () => timePull(registry, repository, scene.image.tag, join(scene.workDir, destination)));
  return { ...result, upstreamCpuSeconds: cpu[0]!, berthCpuSeconds: cpu[1] ?? 0 };
}

async function directPull(scene: Scene, repetition: number): Promise<void> {
  const direct = await measuredPull(scene, scene.upstream, scene.upstreamRepository, `direct-${repetition}`);
  scene.measured.direct.push(direct);
  await settle();
  const floor = await timeCopy(ociReference(scene.image), [], join(scene.workDir, `floor-${repetition}`));
  scene.measured.clientFloor.push(floor);
  progress(`repetition ${repetition + 1}: direct pull ${direct.seconds.toFixed(2)} s; skopeo from the local layout ${floor.seconds.toFixed(2)} s`);
}

/** A cold pull through a fresh Berth, then a warm one through the same Berth. */
async function pullsThroughBerth(scene: Scene, repetition: number): Promise<void> {
  const { measured } = scene;
  await withFreshCache(scene, `pull-${repetition}`, async ({ berth, repository }) => {
    measured.idleRssBytes.push(residentBytes(berth.server.pid) ?? 0);
    const cold = await withPeakRss(berth.server.pid, () => measuredPull(scene, berth, repository, `cold-${repetition}`, berth));
    measured.cold.push(cold.result);
    measured.coldPullPeakRssBytes.push(cold.peakBytes);
    const warm = await measuredPull(scene, berth, repository, `warm-${repetition}`, berth);
    measured.warm.push(warm);
    progress(`repetition ${repetition + 1}: cold pull ${cold.result.seconds.toFixed(2)} s, warm pull ${warm.seconds.toFixed(2)} s through Berth`);
  });
}

/** What a client fetches before any layer, through the cache (not timed): the layer stays uncached. */
async function fetchManifestAndConfig(cache: PullThroughCache, scene: Scene): Promise<void> {
  const { berth, repository } = cache;
  const headers = { Authorization: (await berth.pullAuthorization(repository))!, Accept: scene.manifest.mediaType };
  for (const path of [`manifests/${scene.image.tag}`, `blobs/${scene.config.digest}`]) {
    const response = await fetch(`http://${berth.host}/v2/${repository}/${path}`, { headers });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`Berth answered ${response.status} to GET ${path} through the cache`);
  }
}

/** The largest layer with curl: from the upstream, then cold and warm through a fresh Berth. */
async function blobGets(scene: Scene, repetition: number): Promise<void> {
  const { measured } = scene;
  await settle();
  const direct = await timeBlobGet(scene.upstream, scene.upstreamRepository, scene.largestLayer);
  measured.directBlob.push(direct);
  await withFreshCache(scene, `get-${repetition}`, async (cache) => {
    const { berth, repository } = cache;
    await fetchManifestAndConfig(cache, scene);
    await settle();
    const cold = await timeBlobGet(berth, repository, scene.largestLayer);
    measured.coldBlob.push(cold);
    await settle();
    const warm = await timeBlobGet(berth, repository, scene.largestLayer);
    measured.warmBlob.push(warm);
    const ms = (seconds: number) => `${(seconds * 1000).toFixed(1)} ms`;
    progress(
      `repetition ${repetition + 1}: layer GET first byte / total: direct ${ms(direct.firstByteSeconds)} / ${direct.totalSeconds.toFixed(2)} s, ` +
        `cold ${ms(cold.firstByteSeconds)} / ${cold.totalSeconds.toFixed(2)} s, warm ${ms(warm.firstByteSeconds)} / ${warm.totalSeconds.toFixed(2)} s`,
    );
  });
}

/** Lines of a server's log that report a failure of the server. */
async function loggedFailures(registry: BenchRegistry, label: string): Promise<string[]> {
  const log = await readFile(registry.server.logFile, 'utf8').catch(() => '');
  return log
    .split('\n')
    .filter((line) => registry.isFailureLogLine(line))
    .map((line) => `${label}: ${line}`);
}

/**
 * The run's own directory, or one under BENCH_PULLTHROUGH_BERTH_DIR: e.g. a tmpfs, to see what
 * Berth's writes to the disk (which the client's writes share) cost.
 */
async function berthRoot(workDir: string, cleanup: Cleanup): Promise<string> {
  const parent = process.env.BENCH_PULLTHROUGH_BERTH_DIR;
  if (!parent) return workDir;
  const dir = await mkdtemp(join(parent, 'berth-bench-pullthrough-'));
  cleanup.defer(`removing ${dir}`, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function main(): Promise<void> {
  const settings = settingsFromEnvironment();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  try {
    const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-pullthrough-'));
    cleanup.defer(`removing ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
    const layerBytes = Math.floor(settings.imageBytes / settings.layers);
    progress(`writing an OCI layout: ${settings.layers} layers of ${formatBytes(layerBytes)} (random, gzip level 0)`);
    const image = await writeOciLayout({ dir: join(workDir, 'layout'), layers: settings.layers, layerBytes, gzipLevel: 0 });
    const generated = image.images[0]!;

    const upstream = await startDistribution(join(workDir, 'upstream'));
    cleanup.defer('stopping the upstream', () => upstream.server.stop());
    const upstreamRepository = upstream.repository(upstreamPath);
    const warmUpImage = await writeOciLayout({ dir: join(workDir, 'warm-up-layout'), layers: 2, layerBytes: 2 * MiB, gzipLevel: 0 });
    for (const [layout, path] of [[image, upstreamRepository], [warmUpImage, upstream.repository(warmUpPath)]] as const) {
      await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', ociReference(layout), `docker://${upstream.host}/${path}:${layout.tag}`]);
    }
    progress(`upstream distribution on ${upstream.host} (pid ${upstream.server.pid}) holds ${upstreamRepository}:${image.tag}`);

    const scene: Scene = {
      image,
      warmUpImage,
      upstream,
      upstreamRepository,
      largestLayer: [...generated.layers].sort((a, b) => b.size - a.size)[0]!,
      manifest: generated.manifest,
      config: generated.config,
      workDir,
      berthRoot: await berthRoot(workDir, cleanup),
      cleanup,
      serverErrors: [],
      measured: { direct: [], cold: [], warm: [], clientFloor: [], directBlob: [], coldBlob: [], warmBlob: [], idleRssBytes: [], coldPullPeakRssBytes: [] },
    };
    const busyBefore = await busyShare();
    // One pull from the upstream first, so that every measured one finds its files in the page cache.
    await timePull(upstream, upstreamRepository, image.tag, join(workDir, 'warm-up'));
    for (let repetition = 0; repetition < settings.repeats; repetition++) {
      // Alternate which goes first, so that drift in the machine's load does not favour either.
      if (repetition % 2 === 0) {
        await directPull(scene, repetition);
        await pullsThroughBerth(scene, repetition);
      } else {
        await pullsThroughBerth(scene, repetition);
        await directPull(scene, repetition);
      }
      await blobGets(scene, repetition);
    }

    printReport({
      settings,
      imageBytes: [generated.manifest, generated.config, ...generated.layers].reduce((sum, blob) => sum + blob.size, 0),
      largestLayerBytes: scene.largestLayer.size,
      measured: scene.measured,
      background: { before: busyBefore, after: await busyShare() },
      serverErrors: [...(await loggedFailures(upstream, 'upstream')), ...scene.serverErrors],
    });
  } finally {
    await cleanup.run();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
