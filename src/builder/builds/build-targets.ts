import { scopeAllows, type TokenScope } from '../../identity/api-tokens.ts';
import type { IdentityStore, User } from '../../identity/identity-store.ts';
import { roleAtLeast } from '../../identity/roles.ts';
import type { Principal, RegistryAccess } from '../../registry/auth/access.ts';
import type { CredentialRef, RegistryTokens } from '../../registry/auth/registry-tokens.ts';
import type { Credentials } from '../../registry/management/credentials.ts';
import { parseRepositoryName, splitRegistryHost, type RepositoryName } from '../../registry/names.ts';
import { UpstreamError } from '../../registry/pullthrough/upstream-errors.ts';
import { UpstreamRegistry } from '../../registry/pullthrough/upstream-registry.ts';
import type { Registry } from '../../registry/registry.ts';
import type { RegistryLogin } from '../executors/build-executor.ts';
import { ContainerRequestError } from './container-request.ts';

/** Who asked for a build: the user, the credential they used, and the host they reached Berth by. */
export interface BuildCaller {
  user: User;
  credential: CredentialRef;
  /** The credential's scopes: the executor's login has no more. */
  scopes: TokenScope[];
  /** `host[:port]` of the request (or of the public URL): image references naming it mean Berth. */
  host: string;
}

/** Where an image goes and how the executor logs in there. */
export interface PushTarget {
  /** The repository as the requester wrote it (`host/path`); image names shown to users use it. */
  repository: string;
  /** Berth's own repository, when the target is in Berth's registry. */
  local: RepositoryName | undefined;
  /** The registry host the executor pushes to. */
  pushHost: string;
  workspaceId: string;
}

const manifestTypes = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/**
 * Resolves build targets: a repository in Berth's own registry (by any name Berth answers to) is pushed to
 * over loopback with a login derived from the requester's credential; any other registry needs a
 * workspace credential named after its host, or the request fails before building, as Wave's does.
 */
export class BuildTargets {
  constructor(
    private readonly deps: {
      registry: Registry;
      identity: IdentityStore;
      access: RegistryAccess;
      tokens: RegistryTokens;
      credentials: Credentials;
      /** `127.0.0.1:<port>`: where executors on this host reach Berth's registry. */
      internalHost: () => string;
      /** Host names (with port) Berth answers to besides the request's own. */
      localHosts: () => string[];
      loginTtlS: number;
    },
  ) {}

  /** Where `repository` (`host/path`) is, checked: the caller may push there, or a credential exists. */
  async resolve(repository: string, caller: BuildCaller, defaultWorkspaceId: string): Promise<PushTarget> {
    const { host, path } = splitHost(repository);
    if (this.isLocal(host, caller)) {
      const name = parseTargetName(path, repository);
      const principal: Principal = { kind: 'user', user: caller.user, scopes: caller.scopes, credential: caller.credential };
      const workspace = await this.deps.registry.workspaceOf(name).catch(() => undefined);
      if (!workspace || !(await this.deps.access.may(principal, name, 'push'))) {
        const why = scopeAllows(caller.scopes, 'registry:push') ? `${caller.user.name} may not push there` : 'this API token lacks the registry:push scope';
        throw new ContainerRequestError(`Missing credentials for container repository: ${repository} - ${why}`);
      }
      return { repository, local: name, pushHost: this.deps.internalHost(), workspaceId: workspace.id };
    }
    if (!(await this.deps.credentials.exists(defaultWorkspaceId, host))) throw new ContainerRequestError(`Missing credentials for container repository: ${repository}`);
    // The workspace's credential pushes on the caller's behalf: only for those who may push in the workspace.
    const role = await this.deps.identity.roleOf(caller.user.id, defaultWorkspaceId);
    if (!scopeAllows(caller.scopes, 'registry:push') || !(caller.user.isAdmin || roleAtLeast(role, 'maintain'))) {
      throw new ContainerRequestError(`Access denied to container repository: ${repository} - pushing with the workspace's credentials takes the maintain role and the registry:push scope`);
    }
    return { repository, local: undefined, pushHost: host, workspaceId: defaultWorkspaceId };
  }

  /** What the executor pushes for `image` (`<target.repository>:<tag>`), in the form builds store. */
  pushOf(target: PushTarget, image: string): { local: boolean; image: string } {
    return target.local ? { local: true, image: image.slice(splitHost(image).host.length + 1) } : { local: false, image };
  }

  /** The full reference to push to (Berth's own registry over loopback, at its current address). */
  pushReference(push: { local: boolean; image: string }): string {
    return push.local ? `${this.deps.internalHost()}/${push.image}` : push.image;
  }

  /** The logins an executor needs to push `push` (and to pull base images from Berth's registry). */
  async logins(push: { local: boolean; image: string }, requester: { userId: string; userName: string; credential: CredentialRef; workspaceId: string }): Promise<RegistryLogin[]> {
    const password = await this.deps.tokens.issueEcrLogin({ userId: requester.userId, credential: requester.credential }, requester.userName, this.deps.loginTtlS);
    const own = [this.deps.internalHost(), ...this.deps.localHosts()].map((registry) => ({ registry, username: 'AWS', password, insecure: true }));
    if (push.local) return own;
    const host = splitHost(push.image).host;
    const secret = await this.deps.credentials.reveal(requester.workspaceId, host);
    return [...own, { registry: host, username: secret.username, password: secret.password, insecure: isLoopback(host) }];
  }

  /** The digest of `image` (`host/path:tag`) in `target`, or undefined when it is not there. */
  async existingDigest(target: PushTarget, image: string): Promise<string | undefined> {
    const push = this.pushOf(target, image);
    const colon = push.image.lastIndexOf(':');
    const tag = push.image.slice(colon + 1);
    if (push.local) {
      const repository = await this.deps.registry.find(parseRepositoryName(push.image.slice(0, colon)));
      if (!repository) return undefined;
      return this.deps.registry.manifest(repository, { tag }).then((record) => record.digest, () => undefined);
    }
    const secret = await this.deps.credentials.reveal(target.workspaceId, target.pushHost);
    const upstream = new UpstreamRegistry({ url: `${isLoopback(target.pushHost) ? 'http' : 'https'}://${target.pushHost}`, credentials: secret, timeoutMs: 10_000 });
    try {
      return (await upstream.headManifest(push.image.slice(target.pushHost.length + 1, colon), tag, manifestTypes))?.digest;
    } catch (error) {
      if (error instanceof UpstreamError) throw new ContainerRequestError(`Unable to check container repository: ${target.repository} - ${error.message}`);
      throw error;
    }
  }

  /** `host/<workspace>/builds`: where builds go when the request names no repository. */
  defaultRepository(caller: BuildCaller, workspaceSlug: string): string {
    return `${caller.host}/${workspaceSlug}/builds`;
  }

  private isLocal(host: string, caller: BuildCaller): boolean {
    return host === caller.host || host === this.deps.internalHost() || this.deps.localHosts().includes(host);
  }
}

/** `host[:port]/path` split by docker's rule, Docker Hub when no host is named. */
function splitHost(reference: string): { host: string; path: string } {
  const { registry, path } = splitRegistryHost(reference);
  return { host: registry ?? 'docker.io', path };
}

function parseTargetName(path: string, repository: string): RepositoryName {
  try {
    return parseRepositoryName(path);
  } catch (error) {
    throw new ContainerRequestError(`Invalid container repository '${repository}': ${(error as Error).message}`);
  }
}

function isLoopback(host: string): boolean {
  return /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
}
