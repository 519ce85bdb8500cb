import { RegistryClient } from '../../registry/client/registry-client.ts';
import {
  UpstreamError,
  UpstreamNotFound,
  UpstreamRateLimited,
  UpstreamUnauthorized,
  UpstreamUnreachable,
} from '../../registry/pullthrough/upstream-errors.ts';
import { dockerHub, normaliseRegistryHost } from '../references.ts';
import { ToolboxError, type ToolboxContext } from '../toolbox-operation.ts';

/** Docker Hub's references say `docker.io`; its registry API answers elsewhere. */
const dockerHubApi = 'https://registry-1.docker.io';

/**
 * One registry client per host for the length of an operation, logged in with what the face's
 * context gives for that host. Loopback hosts and the hosts named insecure are spoken to over plain
 * HTTP (as docker treats 127.0.0.0/8); everything else over HTTPS.
 */
export class RegistryAccess {
  private readonly clients = new Map<string, Promise<RegistryClient>>();
  private readonly insecure: Set<string>;

  constructor(
    private readonly context: Pick<ToolboxContext, 'registryLogin'>,
    insecureRegistries: readonly string[] = [],
  ) {
    this.insecure = new Set(insecureRegistries.map(normaliseRegistryHost));
  }

  client(host: string): Promise<RegistryClient> {
    const key = normaliseRegistryHost(host);
    let client = this.clients.get(key);
    if (!client) {
      client = this.connect(key);
      this.clients.set(key, client);
    }
    return client;
  }

  /** The URL the registry API of `host` answers at. */
  endpoint(host: string): string {
    if (host === dockerHub) return dockerHubApi;
    return `${this.insecure.has(host) || isLoopback(host) ? 'http' : 'https'}://${host}`;
  }

  private async connect(host: string): Promise<RegistryClient> {
    const credentials = await this.context.registryLogin(host);
    return new RegistryClient({ url: this.endpoint(host), credentials, userAgent: 'berth-toolbox' });
  }
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(name) || name === '[::1]';
}

/** A registry's failure as the toolbox reports it: the code a face maps, the registry's own words as the message. */
export function toolboxFailure(error: unknown, what: string): unknown {
  if (!(error instanceof UpstreamError)) return error;
  const detail = { registry: error.upstream };
  if (error instanceof UpstreamNotFound) return new ToolboxError('NOT_FOUND', `${what}: ${error.message}`, detail);
  if (error instanceof UpstreamUnauthorized) {
    return new ToolboxError('UNAUTHORIZED', `${what}: ${error.message}. Log in (docker login, or the credentials flags) with a user that may do this`, detail);
  }
  if (error instanceof UpstreamRateLimited) {
    return new ToolboxError('UNREACHABLE', `${what}: ${error.message}${error.retryAfterSeconds !== undefined ? `; retry in ${error.retryAfterSeconds} s` : ''}`, detail);
  }
  if (error instanceof UpstreamUnreachable) return new ToolboxError('UNREACHABLE', `${what}: ${error.message}`, detail);
  return new ToolboxError('FAILED', `${what}: ${error.message}`, detail);
}
