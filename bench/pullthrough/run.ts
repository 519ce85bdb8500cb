/**
 * Pull-through cache benchmark: a CNCF distribution 2.8 upstream holds an image; Berth caches it
 * through a pull-through cache rule created with the ECR API. In one run, on one machine:
 *   - direct: skopeo pulls the image from the upstream;
 *   - cold: skopeo pulls it through a Berth that has nothing cached (a fresh Berth per repetition);
 *   - warm: skopeo pulls it through that Berth again;
 *   - the largest layer's blob GET with curl (first byte, total): direct, cold through a second
 *     fresh Berth, then warm through it.
 * Prints medians and Berth ÷ direct against the targets (cold ≤ 1.2×, warm ≤ 0.8×).
 *
 *   node --import tsx bench/pullthrough/run.ts          (or `npm run bench -- pullthrough`)
 *
 * Environment: BENCH_PULLTHROUGH_MIB (500), BENCH_PULLTHROUGH_LAYERS (4), BENCH_REPEATS (3),
 * BENCH_BERTH_NODE_FLAGS (extra node flags for Berth, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ociReference, writeOciLayout, type Descriptor, type GeneratedLayer } from '../../test/support/oci-image.ts';
import { run } from '../../test/support/processes.ts';
import { Cleanup } from '../support/cleanup.ts';
import { busyShare, formatBytes, residentBytes, withPeakRss } from '../support/measure.ts';
import { startDistribution, type BenchRegistry } from '../support/registries.ts';
import { startPullThroughCache, type PullThroughCache } from './cache.ts';
import { printReport, type PullThroughMeasurements } from './report.ts';
import { settingsFromEnvironment } from './settings.ts';
import { timeBlobGet, timePull } from './transfers.ts';

/** Where the image lives upstream (distribution's repository names need no workspace). */
const upstreamPath = 'pull';

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Writes dirty pages out, so that one measurement's writes are not flushed during the next. */
async function settle(): Promise<void> {
  await run('sync', []);
}

interface Scene {
  upstream: BenchRegistry;
  upstreamRepository: string;
  tag: string;
  largestLayer: GeneratedLayer;
  manifest: Descriptor;
  config: Descriptor;
  workDir: string;
  cleanup: Cleanup;
  serverErrors: string[];
}

/** A fresh cache for one measurement, stopped and removed by `use`'s end (or by the cleanup on failure). */
async function withFreshCache<T>(scene: Scene, name: string, use: (cache: PullThroughCache) => Promise<T>): Promise<T> {
  const cache = await startPullThroughCache(join(scene.workDir, name), scene.upstream.host, scene.upstreamRepository);
  scene.cleanup.defer(`stopping Berth (${name})`, async () => void (await cache.stop()));
  try {
    return await use(cache);
  } finally {
    scene.serverErrors.push(...(await cache.stop()));
  }
}

async function directPull(scene: Scene, measured: PullThroughMeasurements, repetition: number): Promise<void> {
  await settle();
  const seconds = await timePull(scene.upstream, scene.upstreamRepository, scene.tag, join(scene.workDir, `direct-${repetition}`));
  measured.directPullSeconds.push(seconds);
  progress(`repetition ${repetition + 1}: direct pull ${seconds.toFixed(2)} s`);
}

/** A cold pull through a fresh Berth, then a warm one through the same Berth. */
async function pullsThroughBerth(scene: Scene, measured: PullThroughMeasurements, repetition: number): Promise<void> {
  await withFreshCache(scene, `pull-${repetition}`, async ({ berth, repository }) => {
    measured.idleRssBytes.push(residentBytes(berth.server.pid) ?? 0);
    await settle();
    const cold = await withPeakRss(berth.server.pid, () => timePull(berth, repository, scene.tag, join(scene.workDir, `cold-${repetition}`)));
    measured.coldPullSeconds.push(cold.result);
    measured.coldPullPeakRssBytes.push(cold.peakBytes);
    await settle();
    const warm = await timePull(berth, repository, scene.tag, join(scene.workDir, `warm-${repetition}`));
    measured.warmPullSeconds.push(warm);
    progress(`repetition ${repetition + 1}: cold pull ${cold.result.toFixed(2)} s, warm pull ${warm.toFixed(2)} s through Berth`);
  });
}

/**
 * What a client fetches before any layer, through the cache (not timed): the repository is created,
 * the upstream's challenge answered, and the fill code run once, as in a Berth that has been up a
 * while. The layer stays uncached.
 */
async function fetchManifestAndConfig(cache: PullThroughCache, scene: Scene): Promise<void> {
  const { berth, repository } = cache;
  const headers = { Authorization: (await berth.pullAuthorization(repository))!, Accept: scene.manifest.mediaType };
  for (const path of [`manifests/${scene.tag}`, `blobs/${scene.config.digest}`]) {
    const response = await fetch(`http://${berth.host}/v2/${repository}/${path}`, { headers });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`Berth answered ${response.status} to GET ${path} through the cache`);
  }
}

/** The largest layer with curl: from the upstream, then cold and warm through a fresh Berth. */
async function blobGets(scene: Scene, measured: PullThroughMeasurements, repetition: number): Promise<void> {
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
    await run('skopeo', ['copy', '--quiet', '--preserve-digests', '--dest-tls-verify=false', ociReference(image), `docker://${upstream.host}/${upstreamRepository}:${image.tag}`]);
    await rm(join(workDir, 'layout'), { recursive: true, force: true });
    progress(`upstream distribution on ${upstream.host} (pid ${upstream.server.pid}) holds ${upstreamRepository}:${image.tag}`);

    const largestLayer = [...generated.layers].sort((a, b) => b.size - a.size)[0]!;
    const scene: Scene = { upstream, upstreamRepository, tag: image.tag, largestLayer, manifest: generated.manifest, config: generated.config, workDir, cleanup, serverErrors: [] };
    const measured: PullThroughMeasurements = {
      directPullSeconds: [],
      coldPullSeconds: [],
      warmPullSeconds: [],
      directBlob: [],
      coldBlob: [],
      warmBlob: [],
      idleRssBytes: [],
      coldPullPeakRssBytes: [],
    };
    const busyBefore = await busyShare();
    // One pull from the upstream first, so that every measured one finds its files in the page cache.
    await timePull(upstream, upstreamRepository, image.tag, join(workDir, 'warm-up'));
    for (let repetition = 0; repetition < settings.repeats; repetition++) {
      // Alternate which goes first, so that drift in the machine's load does not favour either.
      if (repetition % 2 === 0) {
        await directPull(scene, measured, repetition);
        await pullsThroughBerth(scene, measured, repetition);
      } else {
        await pullsThroughBerth(scene, measured, repetition);
        await directPull(scene, measured, repetition);
      }
      await blobGets(scene, measured, repetition);
    }

    const imageBytes = [generated.manifest, generated.config, ...generated.layers].reduce((sum, blob) => sum + blob.size, 0);
    const upstreamErrors = await upstreamFailures(upstream);
    printReport({
      settings,
      imageBytes,
      largestLayerBytes: largestLayer.size,
      measured,
      background: { before: busyBefore, after: await busyShare() },
      serverErrors: [...upstreamErrors, ...scene.serverErrors],
    });
  } finally {
    await cleanup.run();
  }
}

async function upstreamFailures(upstream: BenchRegistry): Promise<string[]> {
  const log = await readFile(upstream.server.logFile, 'utf8').catch(() => '');
  return log
    .split('\n')
    .filter((line) => upstream.isFailureLogLine(line))
    .map((line) => `upstream: ${line}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
