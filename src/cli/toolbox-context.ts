import type { Command } from 'commander';
import { localToolboxContext, type LocalContextOptions } from '../toolbox/local-context.ts';
import type { ToolboxContext } from '../toolbox/toolbox-operation.ts';
import { ApiClient, CliError, type ClientOptions } from './client.ts';

/** The flags every toolbox command that talks to an ECR API takes (see `withEcrTargetOptions`). */
export interface EcrTargetFlags {
  workspace?: string;
  aws?: boolean;
  region?: string;
  endpointUrl?: string;
}

/** Adds the flags that choose the ECR registry: a Berth workspace (default) or Amazon ECR. */
export function withEcrTargetOptions(command: Command): Command {
  return command
    .option('--workspace <workspace>', "Berth workspace (its registry); default: your own")
    .option('--aws', 'Amazon ECR instead of Berth (credentials from the AWS environment: AWS_PROFILE, AWS_ACCESS_KEY_ID, …)')
    .option('--region <region>', 'AWS region (with --aws; default $AWS_REGION)')
    .option('--endpoint-url <url>', 'another ECR-compatible endpoint (with --aws)');
}

/**
 * The toolbox context of a CLI command: the Berth of `--url`/`--token`, the ECR target of `withEcrTargetOptions`' flags, and explicit logins.
 */
export function cliToolboxContext(command: Command, extra: Pick<LocalContextOptions, 'logins' | 'progress' | 'signal'> = {}): ToolboxContext {
  const flags = command.optsWithGlobals() as ClientOptions & EcrTargetFlags;
  return localToolboxContext({ ...extra, ...berthOf(flags), ...awsOf(flags) });
}

/** The Berth of the global flags, when a token can be found: operations that need none (maps) work without. */
function berthOf(flags: ClientOptions & EcrTargetFlags): Pick<LocalContextOptions, 'berth'> {
  let client: ApiClient;
  try {
    client = new ApiClient(flags);
  } catch (error) {
    if (error instanceof CliError) return {};
    throw error;
  }
  return { berth: { url: client.url, token: client.token, ...(flags.workspace && { workspace: flags.workspace }) } };
}

function awsOf(flags: EcrTargetFlags): Pick<LocalContextOptions, 'aws'> {
  if (!flags.aws) {
    if (flags.region || flags.endpointUrl) throw new CliError('--region and --endpoint-url go with --aws (Amazon ECR)');
    return {};
  }
  const region = flags.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new CliError('--aws needs a region: --region REGION or $AWS_REGION');
  return { aws: { region, ...(flags.endpointUrl && { endpoint: flags.endpointUrl }) } };
}
