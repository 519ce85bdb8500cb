import { readFile, rm } from 'node:fs/promises';
import { CreatePullThroughCacheRuleCommand } from '@aws-sdk/client-ecr';
import { ecrSdk, type AwsKey } from '../../test/support/aws.ts';
import { startBerthProcess, type BenchRegistry } from '../support/registries.ts';

/** A Berth that caches one upstream under `prefix`, with nothing cached yet. */
export interface PullThroughCache {
  berth: BenchRegistry;
  /** The Berth repository that mirrors `upstreamRepository` of the upstream. */
  repository: string;
  /** The rule's repository prefix: `<workspace>/<prefix>/<upstream path>` mirrors `<upstream path>`. */
  prefix: string;
  /** Stops Berth, keeps the lines of its log that report failures, and removes its data. Idempotent. */
  stop(): Promise<string[]>;
}

const prefix = 'upstream';

/**
 * Starts Berth out of process on a data directory of its own and creates the pull-through cache
 * rule as an operator would with `aws ecr create-pull-through-cache-rule`: through the ECR API,
 * SigV4-signed with an access key made by `POST /api/access-keys`. A fresh data directory is the
 * only cold cache: blobs are shared by digest across repositories, so a new prefix on a Berth that
 * already holds the bytes would link them instead of fetching them.
 */
export async function startPullThroughCache(dir: string, upstreamHost: string, upstreamRepository: string): Promise<PullThroughCache> {
  const berth = await startBerthProcess(dir);
  let stopped: Promise<string[]> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      await berth.server.stop();
      const log = await readFile(berth.server.logFile, 'utf8').catch(() => '');
      await rm(dir, { recursive: true, force: true });
      return log
        .split('\n')
        .filter((line) => berth.isFailureLogLine(line))
        .map((line) => `Berth: ${line}`);
    })());
  try {
    const key = await createAccessKey(berth);
    // The SDK warns about Node 20 on every run; the warning says nothing about what is measured.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const ecr = ecrSdk(`http://${berth.host}`, key);
    try {
      await ecr.send(new CreatePullThroughCacheRuleCommand({ ecrRepositoryPrefix: prefix, upstreamRegistryUrl: `http://${upstreamHost}` }));
    } finally {
      ecr.destroy();
    }
    return { berth, repository: berth.repository(`${prefix}/${upstreamRepository}`), prefix, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function createAccessKey(berth: BenchRegistry): Promise<AwsKey> {
  const response = await fetch(`http://${berth.host}/api/access-keys`, {
    method: 'POST',
    headers: { Authorization: berth.adminAuthorization()!, 'Content-Type': 'application/json' },
    body: '{}',
  });
  const body = (await response.json()) as Partial<AwsKey> & { message?: string };
  if (response.status !== 201 || !body.accessKeyId || !body.secretAccessKey) {
    throw new Error(`POST /api/access-keys answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return { accessKeyId: body.accessKeyId, secretAccessKey: body.secretAccessKey };
}
