import { isDigest } from '../registry/digest.ts';
import { isValidName, isValidTag } from '../registry/names.ts';
import { ToolboxError } from './toolbox-operation.ts';

/**
 * An image reference in its normalised form: `docker.io/library/ubuntu:latest`,
 * `ghcr.io/org/tool@sha256:…`. Docker Hub is always `docker.io`, whatever alias it was written with.
 */
export interface ImageReference {
  /** The registry host, with its port when it has one: `docker.io`, `quay.io`, `127.0.0.1:5000`. */
  registry: string;
  /** The repository inside the registry: `library/ubuntu`, `org/tool`. */
  repository: string;
  /** The tag; `latest` when the text named neither tag nor digest. */
  tag?: string;
  digest?: string;
}

export const dockerHub = 'docker.io';

/** The names Docker Hub goes by in references, configuration files and docker's config.json. */
const dockerHubAliases = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
  'https://index.docker.io/v1/',
  'https://index.docker.io/v1',
  'https://registry-1.docker.io',
  'https://docker.io',
]);

/** `docker.io` for every name of Docker Hub; any other host lower-cased and stripped of a scheme and path. */
export function normaliseRegistryHost(host: string): string {
  const trimmed = host.trim();
  if (dockerHubAliases.has(trimmed.toLowerCase())) return dockerHub;
  const bare = trimmed.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  return dockerHubAliases.has(bare) ? dockerHub : bare;
}

/** Whether the first component of a reference names a registry host rather than a Docker Hub namespace (docker's rule). */
function looksLikeHost(component: string): boolean {
  return component.includes('.') || component.includes(':') || component === 'localhost' || component !== component.toLowerCase();
}

/** Whether `text` (a reference, or `host/prefix`) starts with a registry host, rather than meaning Docker Hub. */
export function namesRegistryHost(text: string): boolean {
  const slash = text.indexOf('/');
  return slash > 0 && looksLikeHost(text.slice(0, slash));
}

/**
 * Parses `[host/]path[:tag][@digest]` with docker's defaults: no host means Docker Hub, a
 * one-component Hub name gets `library/`, and a reference without tag or digest means `:latest`.
 * Throws ToolboxError INVALID_INPUT naming the part that is wrong.
 */
export function parseImageReference(text: string): ImageReference {
  const input = text.trim();
  const invalid = (why: string) => new ToolboxError('INVALID_INPUT', `"${input.slice(0, 300)}" is not an image reference: ${why}`, { reference: input.slice(0, 300) });
  if (!input) throw invalid('it is empty');
  if (/\s/.test(input)) throw invalid('it contains white space');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw invalid(`"${digest.slice(0, 150)}" is not a sha256 or sha512 digest`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw invalid(`"${tag.slice(0, 150)}" is not a valid tag`);
  }

  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  const hasHost = first !== '' && looksLikeHost(first);
  const registry = hasHost ? normaliseRegistryHost(first) : dockerHub;
  let repository = hasHost ? rest.slice(slash + 1) : rest;
  if (registry === dockerHub && repository && !repository.includes('/')) repository = `library/${repository}`;
  if (!repository) throw invalid('it names no repository');
  if (!isValidName(repository)) throw invalid(`"${repository.slice(0, 150)}" is not a valid repository name (lower case letters, digits, and . _ - separators)`);

  return { registry, repository, ...(tag || !digest ? { tag: tag ?? 'latest' } : {}), ...(digest ? { digest } : {}) };
}

/** The full normalised text of a reference: `docker.io/library/ubuntu:22.04`, `host/repo:tag@sha256:…`. */
export function formatImageReference(reference: ImageReference): string {
  return `${reference.registry}/${reference.repository}${reference.tag ? `:${reference.tag}` : ''}${reference.digest ? `@${reference.digest}` : ''}`;
}

/** `host/repository`, without tag or digest: what a registry calls a repository, with where it lives. */
export function formatRepositoryLocation(reference: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${reference.registry}/${reference.repository}`;
}
