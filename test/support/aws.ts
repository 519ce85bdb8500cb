import { ECRClient } from '@aws-sdk/client-ecr';
import { run, type RunResult } from './processes.ts';

/** Debian's aws CLI v2 (another `aws` may come first on PATH). */
const awsBinary = '/usr/bin/aws';

export interface AwsKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/**
 * Runs `aws ecr <args>` against Berth's ECR endpoint with the given key. Resolves with the parsed
 * JSON output, or rejects with the CLI's error text; `runAws` keeps the raw result for error tests.
 */
export async function aws<T = Record<string, unknown>>(berthUrl: string, key: AwsKey, args: string[]): Promise<T> {
  const result = await runAws(berthUrl, key, args);
  if (result.code !== 0) throw new Error(`aws ${args.join(' ')} failed (${result.code}): ${result.stderr.trim()}`);
  return (result.stdout.trim() ? JSON.parse(result.stdout) : {}) as T;
}

export function runAws(berthUrl: string, key: AwsKey, args: string[], input?: string): Promise<RunResult> {
  const output = args.includes('--output') ? [] : ['--output', 'json'];
  return run(awsBinary, ['ecr', ...args, '--endpoint-url', `${berthUrl}/ecr`, '--region', 'eu-west-2', ...output], {
    allowFailure: true,
    input,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: key.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
      AWS_CONFIG_FILE: '/dev/null',
      AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    },
  });
}

/**
 * The AWS SDK's ECR client against Berth, for operations newer than the Debian aws CLI
 * (pull-through credentials, repository creation templates).
 */
export function ecrSdk(berthUrl: string, key: AwsKey): ECRClient {
  return new ECRClient({ endpoint: `${berthUrl}/ecr`, region: 'eu-west-2', credentials: key, maxAttempts: 1 });
}
