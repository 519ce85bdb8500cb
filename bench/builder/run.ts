/**
 * Builder benchmark, in one run on one machine, against Berth started as an operator starts it:
 *   - build: the same small Dockerfile (a fresh nonce each time, so nothing is cached) built through Berth's
 *     Wave API (request → log stream ends) vs the same `buildah bud --isolation=chroot` + `buildah push` by
 *     hand into the same registry. Target: Berth's overhead ≤ 10 %.
 *   - cache hit: the identical request again, many times: p50/p99, next to a manifest HEAD on the same
 *     registry (the least a cache check must do).
 *   - augmentation: a layer and env added to a 10 MiB and a 1 GiB base (`POST /api/images/augment`); the
 *     time must not grow with the base. Its peer is the rebuild it replaces (FROM base + COPY, pushed) on the
 *     small base.
 *
 *   node --import tsx bench/builder/run.ts          (or `npm run bench -- builder`)
 *
 * Environment: BENCH_REPEATS (3), BENCH_CACHE_HITS (200), BENCH_AUGMENT_SMALL_MIB (10), BENCH_AUGMENT_LARGE_MIB (1024).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerStorage, writeBusyboxContext } from '../../test/support/containers.ts';
import { ociReference, writeOciLayout } from '../../test/support/oci-image.ts';
import { run } from '../../test/support/processes.ts';
import { Cleanup } from '../support/cleanup.ts';
import { integerFromEnvironment } from '../support/environment.ts';
import { median, MiB, timed } from '../support/measure.ts';
import { startBerthProcess, type BenchRegistry } from '../support/registries.ts';
import { augmentOnce, pushLayer, rebuildWithLayer } from './augment.ts';
import { authorization, buildByHand, buildThroughBerth, submit } from './builds.ts';

const repeats = integerFromEnvironment('BENCH_REPEATS', 3);
const cacheHits = integerFromEnvironment('BENCH_CACHE_HITS', 200);
const smallMiB = integerFromEnvironment('BENCH_AUGMENT_SMALL_MIB', 10);
const largeMiB = integerFromEnvironment('BENCH_AUGMENT_LARGE_MIB', 1024);

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (seconds: number) => `${(seconds * 1000).toFixed(1)} ms`;

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  cleanup.onSignals();
  const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-builder-'));
  cleanup.defer('removing the work directory', () => rm(workDir, { recursive: true, force: true }));
  try {
    const berth = await startBerthProcess(join(workDir, 'berth'));
    cleanup.defer('stopping Berth', () => berth.server.stop());
    const storage = await ContainerStorage.create('bench-builder');
    cleanup.defer('removing buildah storage', () => storage.remove());
    const token = Buffer.from(authorization(berth).split(' ')[1]!, 'base64').toString().split(':')[1]!;
    const base = await pushBase(berth, storage, token, workDir);

    progress(`build: ${repeats} × Berth and ${repeats} × buildah by hand`);
    const throughBerth: number[] = [];
    const byHand: number[] = [];
    for (let i = 0; i < repeats; i++) {
      byHand.push((await timed(() => buildByHand(berth, storage, token, base, join(workDir, `hand-${i}`)))).seconds);
      throughBerth.push((await timed(() => buildThroughBerth(berth, base))).seconds);
    }

    progress(`cache hit: ${cacheHits} identical requests`);
    const cachedRequest = { containerFile: Buffer.from(`FROM ${base}\nRUN echo cached > /cached.txt\n`).toString('base64'), buildRepository: `${berth.host}/admin/bench` };
    await buildThroughBerth(berth, base, cachedRequest);
    const hits: number[] = [];
    const heads: number[] = [];
    const manifestUrl = `http://${berth.host}/v2/admin/busybox/manifests/1`;
    for (let i = 0; i < cacheHits; i++) {
      hits.push((await timed(() => submit(berth, cachedRequest))).seconds);
      heads.push((await timed(() => fetch(manifestUrl, { method: 'HEAD', headers: { Authorization: authorization(berth), Accept: 'application/vnd.oci.image.manifest.v1+json' } }))).seconds);
    }

    progress(`augmentation: ${smallMiB} MiB and ${largeMiB} MiB bases`);
    const layer = await pushLayer(berth, 'admin/augmented');
    const augment: Record<string, number[]> = {};
    for (const [label, mib] of [['small', smallMiB], ['large', largeMiB]] as const) {
      const layout = await writeOciLayout({ dir: join(workDir, `base-${label}`), layers: 4, layerBytes: Math.ceil((mib * MiB) / 4) });
      await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...berth.destinationFlags, ociReference(layout), `docker://${berth.host}/admin/base-${label}:1`]);
      await rm(layout.dir, { recursive: true, force: true });
      augment[label] = [];
      for (let i = 0; i < repeats; i++) augment[label]!.push((await timed(() => augmentOnce(berth, `admin/base-${label}:1`, `admin/augmented:${label}-${i}`, layer))).seconds);
    }
    const rebuild: number[] = [];
    const file = join(workDir, 'agent.txt');
    await writeFile(file, 'the injected agent\n');
    for (let i = 0; i < repeats; i++) rebuild.push((await timed(() => rebuildWithLayer(storage, token, `${berth.host}/admin/base-small:1`, file, `${berth.host}/admin/rebuilt:${i}`, join(workDir, `rebuild-${i}`)))).seconds);

    const build = median(throughBerth) / median(byHand);
    console.log('\nBuilder benchmark (medians; ratio = Berth ÷ peer)');
    console.log(`  Dockerfile build     Berth ${ms(median(throughBerth))}   buildah by hand ${ms(median(byHand))}   ratio ${build.toFixed(2)}   target ≤ 1.10 ${build <= 1.1 ? 'PASS' : 'MISS'}`);
    console.log(`  cache hit            p50 ${ms(percentile(hits, 50))}   p99 ${ms(percentile(hits, 99))}   manifest HEAD p50 ${ms(percentile(heads, 50))}   ratio ${(percentile(hits, 50) / percentile(heads, 50)).toFixed(2)}`);
    const small = median(augment.small!);
    const large = median(augment.large!);
    console.log(`  augment ${smallMiB} MiB base  ${ms(small)}   rebuild with buildah ${ms(median(rebuild))}   ratio ${(small / median(rebuild)).toFixed(3)}`);
    console.log(`  augment ${largeMiB} MiB base  ${ms(large)}   ÷ small base ${(large / small).toFixed(2)}   target: well under 1 s, flat in base size ${large < 1 && large / small < 2 ? 'PASS' : 'MISS'}`);
  } finally {
    await cleanup.run();
  }
}

/** The static-busybox base image, built once and pushed into Berth. */
async function pushBase(berth: BenchRegistry, storage: ContainerStorage, token: string, workDir: string): Promise<string> {
  const context = await writeBusyboxContext(join(workDir, 'busybox'), 'bench');
  const reference = `${berth.host}/admin/busybox:1`;
  await storage.buildah(['bud', '--isolation=chroot', '-q', '-t', reference, context]);
  await storage.buildah(['push', '--tls-verify=false', '--creds', `admin:${token}`, reference]);
  return reference;
}

await main();
