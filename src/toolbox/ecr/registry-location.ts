import { GetAuthorizationTokenCommand, type ECRClient } from '@aws-sdk/client-ecr';
import { ToolboxError, type RegistryLogin } from '../toolbox-operation.ts';
import { ecrCall } from './ecr-support.ts';

/** Where the registry behind an ECR API serves images (its OCI API), and a login for it. */
export interface RegistryLocation {
  /** `http://127.0.0.1:8080` (Berth) or `https://123456789012.dkr.ecr.eu-west-2.amazonaws.com`. */
  endpoint: string;
  /** host[:port], as image references name it. */
  host: string;
  login: RegistryLogin;
  /** Amazon ECR: repository paths are the repository names. Berth: `<workspace>/<name>`. */
  amazon: boolean;
}

const amazonHost = /\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** The OCI side of an ECR registry, from GetAuthorizationToken: its endpoint and a login (user AWS). */
export async function registryLocation(client: ECRClient): Promise<RegistryLocation> {
  const answer = await ecrCall('logging in to the registry (GetAuthorizationToken)', () => client.send(new GetAuthorizationTokenCommand({})));
  const data = answer.authorizationData?.[0];
  if (!data?.authorizationToken || !data.proxyEndpoint) throw new ToolboxError('FAILED', 'GetAuthorizationToken answered without a token or endpoint');
  const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const endpoint = data.proxyEndpoint.replace(/\/+$/, '');
  const host = new URL(endpoint).host;
  return { endpoint, host, login: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }, amazon: amazonHost.test(new URL(endpoint).hostname) };
}
