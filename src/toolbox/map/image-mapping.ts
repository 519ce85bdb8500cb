import { isValidName, splitRegistryHost } from '../../registry/names.ts';
import { formatImageReference, normaliseRegistryHost, parseImageReference } from '../references.ts';
import { ToolboxError } from '../toolbox-operation.ts';

/**
 * Pull-through cache prefixes by source registry: the prefixes `berth ecr pull-through create <preset>` gives its
 * rules by default (ECR's upstream registry names: docker-hub, quay, ecr-public, github-container-registry, k8s,
 * gitlab-container-registry), so that a map and the caches made with defaults agree. An image from one of these is
 * served by the mirror's cache; any other is cloned.
 */
export const defaultPullThroughPrefixes: Readonly<Record<string, string>> = {
  'docker.io': 'docker-hub',
  'quay.io': 'quay',
  'ghcr.io': 'github-container-registry',
  'public.ecr.aws': 'ecr-public',
  'registry.k8s.io': 'k8s',
  'registry.gitlab.com': 'gitlab-container-registry',
};

/** Where images go: `HOST` or `HOST/WORKSPACE` (any path inside the registry). */
export interface Mirror {
  host: string;
  /** The repository path images go under; empty for the registry's root. */
  path: string;
  /** `host[/path]`, the beginning of every target. */
  location: string;
}

export type MappingRoute = 'pull-through' | 'clone';

export interface MappedImage {
  /** The normalised source: `docker.io/library/ubuntu:22.04`. */
  normalized: string;
  /** The source's registry host (`docker.io`). */
  registry: string;
  /** Where the mirror serves it. */
  target: string;
  via: MappingRoute;
  /** The pull-through prefix used (or found, for an image already on the mirror). */
  prefix?: string;
  /** The image already names the mirror: it maps to itself. */
  onMirror: boolean;
}

/** Reads `HOST[/PATH]` (a scheme is tolerated and dropped); INVALID_INPUT when it cannot be a registry location. */
export function parseMirror(registry: string): Mirror {
  const bare = registry.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
  const slash = bare.indexOf('/');
  const hostText = slash < 0 ? bare : bare.slice(0, slash);
  const path = slash < 0 ? '' : bare.slice(slash + 1);
  if (!/^[A-Za-z0-9.-]+(:\d+)?$/.test(hostText)) {
    throw new ToolboxError('INVALID_INPUT', `registry "${registry}" must be HOST or HOST/WORKSPACE (e.g. registry.example.org/genomics or 127.0.0.1:8080/admin)`);
  }
  if (path && !isValidName(path)) {
    throw new ToolboxError('INVALID_INPUT', `registry "${registry}": "${path}" is not a repository path (lower case letters, digits, . _ - and /)`);
  }
  const host = normaliseRegistryHost(hostText);
  return { host, path, location: path ? `${host}/${path}` : host };
}

/** The prefixes to use, by normalised source host: the defaults when none are given. Validates each prefix as ECR does. */
export function pullThroughPrefixes(prefixes: Readonly<Record<string, string>> | undefined): Map<string, string> {
  const map = new Map<string, string>();
  for (const [source, prefix] of Object.entries(prefixes ?? defaultPullThroughPrefixes)) {
    const clean = prefix.trim().replace(/^\/+|\/+$/g, '');
    if (clean.length < 2 || clean.length > 30 || !isValidName(clean)) {
      throw new ToolboxError('INVALID_INPUT', `pull-through prefix "${prefix}" for ${source} must be 2-30 characters of a repository name (as an ECR repository prefix)`);
    }
    map.set(normaliseRegistryHost(source), clean);
  }
  return map;
}

/**
 * Maps one image: normalised (docker.io/library, `:latest`), then to `<mirror>/<prefix>/<repository>` when its
 * registry has a pull-through prefix, else to the cloned location `<mirror>/<repository>`; an image already on the
 * mirror maps to itself. `defaultRegistry` is put before names without a registry host (Nextflow's docker.registry).
 * Throws ToolboxError INVALID_INPUT for a text that is not an image reference.
 */
export function mapImage(image: string, defaultRegistry: string | undefined, mirror: Mirror, prefixes: ReadonlyMap<string, string>): MappedImage {
  const qualified = defaultRegistry && splitRegistryHost(image).registry === undefined ? `${defaultRegistry}/${image}` : image;
  const reference = parseImageReference(qualified);
  const normalized = formatImageReference(reference);
  const onMirror = reference.registry === mirror.host && (mirror.path === '' || reference.repository.startsWith(`${mirror.path}/`));
  if (onMirror) {
    const inside = mirror.path ? reference.repository.slice(mirror.path.length + 1) : reference.repository;
    const prefix = [...prefixes.values()].find((p) => inside.startsWith(`${p}/`));
    return { normalized, registry: reference.registry, target: normalized, via: prefix ? 'pull-through' : 'clone', ...(prefix ? { prefix } : {}), onMirror };
  }
  const prefix = prefixes.get(reference.registry);
  const repository = prefix ? `${prefix}/${reference.repository}` : reference.repository;
  const target = formatImageReference({ ...reference, registry: mirror.location, repository });
  return { normalized, registry: reference.registry, target, via: prefix ? 'pull-through' : 'clone', ...(prefix ? { prefix } : {}), onMirror };
}
