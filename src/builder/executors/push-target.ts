import { BuildFailed, type RegistryLogin } from './build-executor.ts';
import { splitRegistryHost } from '../../registry/names.ts';

/** `host[:port]/path:tag`, the reference a build pushes to, in its parts. */
export interface PushTarget {
  /** `host[:port]`; `docker.io` when the reference names no registry (Docker's rule). */
  registry: string;
  /** The path inside the registry, e.g. `workspace/app`. */
  repository: string;
  tag: string;
}

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** Registry hosts go into generated config files: only the characters a `host[:port]` can have. */
const REGISTRY_HOST = /^[A-Za-z0-9.-]+(?::[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]+)?$/;

/** Parses the job's target; a malformed one fails the build before anything runs. */
export function parsePushTarget(target: string): PushTarget {
  const invalid = (why: string) => new BuildFailed({ message: `invalid push target "${target}": ${why}`, lastLines: [] });
  if (target.includes('@')) throw invalid('a build pushes to a tag, not a digest');
  const slash = target.lastIndexOf('/');
  const colon = target.lastIndexOf(':');
  const tagged = colon > slash;
  const name = tagged ? target.slice(0, colon) : target;
  const tag = tagged ? target.slice(colon + 1) : 'latest';
  if (!TAG.test(tag)) throw invalid(`"${tag}" is not a valid tag`);
  const split = splitRegistryHost(name);
  const registry = split.registry ?? 'docker.io';
  if (!REGISTRY_HOST.test(registry)) throw invalid(`"${registry}" is not a registry host`);
  const path = split.path.split('/');
  if (path.length === 0 || !path.every((component) => PATH_COMPONENT.test(component))) throw invalid('the repository name is malformed');
  return { registry, repository: path.join('/'), tag };
}

/** `registry/repository` as image references and the Docker API name it. */
export function repositoryReference(target: PushTarget): string {
  return `${target.registry}/${target.repository}`;
}

/** The login for `registry`, if the job has one. */
export function loginFor(logins: readonly RegistryLogin[], registry: string): RegistryLogin | undefined {
  return logins.find((login) => login.registry === registry);
}

/** Logins whose registry is not a plain host name are refused: they would end up in generated config files. */
export function checkLogins(logins: readonly RegistryLogin[]): void {
  for (const login of logins) {
    if (!REGISTRY_HOST.test(login.registry)) {
      throw new BuildFailed({ message: `invalid registry login: "${login.registry}" is not a registry host`, lastLines: [] });
    }
  }
}
