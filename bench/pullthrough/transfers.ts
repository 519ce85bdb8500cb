import { rm } from 'node:fs/promises';
import { run } from '../../test/support/processes.ts';
import { timed } from '../support/measure.ts';
import type { BenchRegistry } from '../support/registries.ts';

const skopeoTimeoutMs = 60 * 60 * 1000;

/**
 * Wall time of `skopeo copy docker://… dir:DESTINATION` (every blob written as a file, digests
 * checked by skopeo). The destination must not exist yet and is removed afterwards.
 */
export async function timePull(registry: BenchRegistry, repository: string, tag: string, destination: string): Promise<number> {
  const args = ['copy', '--quiet', '--src-tls-verify=false', ...registry.sourceFlags, `docker://${registry.host}/${repository}:${tag}`, `dir:${destination}`];
  try {
    return (await timed(() => run('skopeo', args, { timeoutMs: skopeoTimeoutMs }))).seconds;
  } finally {
    await rm(destination, { recursive: true, force: true });
  }
}

/** One blob GET as curl saw it: seconds until the first body byte, and until the last. */
export interface BlobTiming {
  firstByteSeconds: number;
  totalSeconds: number;
}

/**
 * GETs a blob with curl into /dev/null, after fetching the token a client would (not timed), and
 * checks that the whole blob came with status 200.
 */
export async function timeBlobGet(registry: BenchRegistry, repository: string, blob: { digest: string; size: number }): Promise<BlobTiming> {
  const authorization = await registry.pullAuthorization(repository);
  const args = ['-s', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_starttransfer} %{time_total}'];
  if (authorization) args.push('-H', `Authorization: ${authorization}`);
  const { stdout } = await run('curl', [...args, `http://${registry.host}/v2/${repository}/blobs/${blob.digest}`], { timeoutMs: skopeoTimeoutMs });
  const [status, downloaded, firstByteSeconds, totalSeconds] = stdout.trim().split(' ').map(Number);
  if (status !== 200 || downloaded !== blob.size) {
    throw new Error(`${registry.label}: GET of blob ${blob.digest} answered ${status} with ${downloaded} of ${blob.size} bytes`);
  }
  return { firstByteSeconds: firstByteSeconds!, totalSeconds: totalSeconds! };
}
