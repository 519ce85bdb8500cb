import { rm } from 'node:fs/promises';
import { run } from '../../test/support/processes.ts';
import { timed } from '../support/measure.ts';
import type { BenchRegistry } from '../support/registries.ts';

const skopeoTimeoutMs = 60 * 60 * 1000;

/** One `skopeo copy` as measured: its wall time and the CPU time skopeo itself used (user + system). */
export interface CopyTiming {
  seconds: number;
  clientCpuSeconds: number;
}

/**
 * `skopeo copy SOURCE dir:DESTINATION` (every blob written as a file, digests checked by skopeo),
 * run under bash's `time` for skopeo's CPU time. The destination must not exist yet and is removed
 * afterwards.
 */
export async function timeCopy(source: string, flags: string[], destination: string): Promise<CopyTiming> {
  const script = 'TIMEFORMAT="%U %S"; time skopeo copy --quiet "$@"';
  const args = ['-c', script, 'bash', ...flags, source, `dir:${destination}`];
  try {
    const { seconds, result } = await timed(() => run('bash', args, { timeoutMs: skopeoTimeoutMs }));
    const [user, system] = result.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    return { seconds, clientCpuSeconds: user! + system! };
  } finally {
    await rm(destination, { recursive: true, force: true });
  }
}

/** Pulls `repository:tag` from a registry with skopeo into a `dir:` directory. */
export function timePull(registry: BenchRegistry, repository: string, tag: string, destination: string): Promise<CopyTiming> {
  return timeCopy(`docker://${registry.host}/${repository}:${tag}`, ['--src-tls-verify=false', ...registry.sourceFlags], destination);
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
