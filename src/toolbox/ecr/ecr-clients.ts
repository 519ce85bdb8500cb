import { ECRClient, type ServiceInputTypes, type ServiceOutputTypes } from '@aws-sdk/client-ecr';
import { HttpRequest } from '@smithy/protocol-http';
import type { FinalizeRequestMiddleware } from '@smithy/types';

export interface BerthEcrClientOptions {
  /** Berth's base URL, e.g. `http://127.0.0.1:8080`; the ECR API is at `<url>/ecr`. */
  url: string;
  /** A Berth API token (scope `*` or `api`): the client acts as its user. */
  token: string;
  /** The workspace (ECR "registry") addressed; default the token's user's personal workspace. */
  workspace?: string;
  /** Only for the SDK's configuration: Berth answers API-token callers with its own configured region. */
  region?: string;
}

export interface AwsEcrClientOptions {
  region: string;
  /** Another ECR-compatible endpoint (e.g. Berth's `http://HOST/ecr` with a Berth access key). */
  endpoint?: string;
  /** Default: the AWS SDK's credential chain (environment, shared files, SSO, instance roles…). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** SigV4 is computed with these and then replaced: Berth's ECR face takes the API token instead. */
const placeholderCredentials = { accessKeyId: 'berth-api-token', secretAccessKey: 'unused' };

/**
 * An ECR client for Berth's `/ecr` authenticated with a Berth API token: after the SDK signs the
 * request, a middleware replaces the SigV4 Authorization with `Bearer <token>` and names the workspace
 * in `X-Berth-Workspace` (see src/registry/ecr/ecr-face.ts). Everything else is the stock SDK, so code
 * written against ECRClient runs unchanged against Berth and Amazon ECR.
 */
export function berthEcrClient(options: BerthEcrClientOptions): ECRClient {
  const client = new ECRClient({
    endpoint: `${options.url.replace(/\/+$/, '')}/ecr`,
    region: options.region ?? 'us-east-1',
    credentials: placeholderCredentials,
  });
  const useToken: FinalizeRequestMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next) => async (args) => {
    if (HttpRequest.isInstance(args.request)) {
      const headers = args.request.headers;
      for (const name of Object.keys(headers)) {
        if (/^(authorization|x-amz-date|x-amz-security-token|x-amz-content-sha256)$/i.test(name)) delete headers[name];
      }
      headers.authorization = `Bearer ${options.token}`;
      if (options.workspace) headers['x-berth-workspace'] = options.workspace;
    }
    return next(args);
  };
  client.middlewareStack.addRelativeTo(useToken, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'berthApiTokenMiddleware', override: true });
  return client;
}

/** An ECR client for Amazon ECR (or any ECR-compatible endpoint), signing with SigV4. */
export function awsEcrClient(options: AwsEcrClientOptions): ECRClient {
  return new ECRClient({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}
