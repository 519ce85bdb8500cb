import { GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { dockerConfigLogin, type DockerConfigSource } from './credentials/docker-config.ts';
import { awsEcrClient, berthEcrClient } from './ecr/ecr-clients.ts';
import { normaliseRegistryHost } from './references.ts';
import { ToolboxError, type ProgressSink, type RegistryLogin, type ToolboxContext } from './toolbox-operation.ts';

export interface LocalContextOptions {
  /** The Berth the user talks to (`--url`/`BERTH_URL`) and their API token: its registry and ECR API act as that user. */
  berth?: { url: string; token: string; workspace?: string };
  /** Amazon ECR (or another ECR-compatible endpoint, signed with the AWS credential chain) instead of Berth's ECR API. */
  aws?: { region: string; endpoint?: string };
  /** Logins given explicitly (command-line flags), by registry host; they win over everything else. */
  logins?: Record<string, RegistryLogin>;
  dockerConfig?: DockerConfigSource;
  progress?: ProgressSink;
  signal?: AbortSignal;
}

/**
 * The toolbox on the user's machine (the CLI, the MCP server): registry logins from explicit flags, then
 * Berth's own (for its registry host), then docker's config.json; ECR through Berth's API as the token's user,
 * or Amazon ECR; local files readable and writable.
 */
export function localToolboxContext(options: LocalContextOptions): ToolboxContext {
  const explicit = new Map(Object.entries(options.logins ?? {}).map(([host, login]) => [normaliseRegistryHost(host), login]));
  const berthHost = options.berth && normaliseRegistryHost(new URL(options.berth.url).host);
  let berthLogin: Promise<RegistryLogin> | undefined;
  const ecrClient: ToolboxContext['ecrClient'] = (target) => {
    if (options.aws) return awsEcrClient({ region: target.region ?? options.aws.region, ...(options.aws.endpoint && { endpoint: options.aws.endpoint }) });
    if (!options.berth) throw new ToolboxError('INVALID_INPUT', 'no ECR registry to talk to: give a Berth (--url and a token) or Amazon ECR (--aws --region REGION)');
    return berthEcrClient({ ...options.berth, workspace: target.workspace ?? options.berth.workspace, ...(target.region && { region: target.region }) });
  };
  return {
    async registryLogin(host) {
      const wanted = normaliseRegistryHost(host);
      const given = explicit.get(wanted);
      if (given) return given;
      if (options.berth && wanted === berthHost) return (berthLogin ??= loginToBerth(ecrClient({})));
      return dockerConfigLogin(wanted, options.dockerConfig);
    },
    ecrClient,
    progress: options.progress ?? (() => undefined),
    localFiles: true,
    ...(options.signal && { signal: options.signal }),
  };
}

/** A registry login for Berth from its ECR API (`AWS` and a signed password), which any API token can get. */
async function loginToBerth(client: ReturnType<ToolboxContext['ecrClient']>): Promise<RegistryLogin> {
  const answer = await client.send(new GetAuthorizationTokenCommand({}));
  const encoded = answer.authorizationData?.[0]?.authorizationToken;
  if (!encoded) throw new ToolboxError('FAILED', 'Berth gave no registry login (GetAuthorizationToken answered without a token)');
  const decoded = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
