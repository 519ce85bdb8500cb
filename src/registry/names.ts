import { RegistryError } from './errors.ts';

/** The distribution spec's grammars for repository names and tags. */
const component = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const namePattern = new RegExp(`^${component}(?:/${component})*$`);
const tagPattern = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const maxNameLength = 255;

/**
 * A repository name as clients see it: `<workspace slug>/<path>`. The first component is the
 * workspace; the rest is the repository inside it.
 */
export interface RepositoryName {
  full: string;
  workspace: string;
  path: string;
}

export function isValidName(name: string): boolean {
  return name.length <= maxNameLength && namePattern.test(name);
}

/** Parses a full repository name; throws NameInvalid for bad grammar, NameUnknown when it has no workspace part. */
export function parseRepositoryName(full: string): RepositoryName {
  if (!isValidName(full)) {
    throw new RegistryError('NameInvalid', `invalid repository name "${full.slice(0, 300)}"`, { name: full.slice(0, 300) });
  }
  const slash = full.indexOf('/');
  if (slash < 0) {
    throw new RegistryError('NameUnknown', `repository name "${full}" must start with a workspace, as in <workspace>/${full}`, {
      name: full,
    });
  }
  return { full, workspace: full.slice(0, slash), path: full.slice(slash + 1) };
}

export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}

export function parseTag(tag: string): string {
  if (!isValidTag(tag)) throw new RegistryError('TagInvalid', `invalid tag "${tag.slice(0, 200)}"`, { tag: tag.slice(0, 200) });
  return tag;
}

/**
 * Docker's rule for image references: the first `/`-separated component names a registry host when it has a
 * dot or a port, or is `localhost`; otherwise the reference is on Docker Hub (`registry` undefined).
 */
export function splitRegistryHost(reference: string): { registry: string | undefined; path: string } {
  const slash = reference.indexOf('/');
  const first = slash < 0 ? '' : reference.slice(0, slash);
  const isHost = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  return isHost ? { registry: first, path: reference.slice(slash + 1) } : { registry: undefined, path: reference };
}
