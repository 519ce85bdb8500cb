import { isRegistryError } from '../../registry/errors.ts';
import { parseRepositoryName, type RepositoryName } from '../../registry/names.ts';
import { parseReference, type Reference } from '../../registry/registry.ts';
import { AugmentError } from './augment-errors.ts';

/** An image in Berth's registry: `ws/repo:tag`, `ws/repo@sha256:…`, either with this registry's host in front. */
export interface ImageReference {
  name: RepositoryName;
  reference: Reference;
}

/**
 * Parses an image reference. The first component is taken for a registry host when it is one of
 * `localHosts` (case-insensitive), and the reference is refused when it names another host
 * (contains a port, or is `localhost`): augmentation never reaches out to other registries.
 * Workspace slugs may contain dots, so a dotted first component is a workspace unless listed.
 * Without a tag or digest, the tag is `latest`.
 */
export function parseImageReference(text: string, localHosts: readonly string[] = []): ImageReference {
  const at = text.indexOf('@');
  const named = at >= 0 ? text.slice(0, at) : text;
  const lastSlash = named.lastIndexOf('/');
  const colon = named.indexOf(':', lastSlash + 1);
  const path = colon >= 0 ? named.slice(0, colon) : named;
  const reference = at >= 0 ? text.slice(at + 1) : colon >= 0 ? named.slice(colon + 1) : 'latest';
  const fullName = withoutHost(path, text, localHosts);
  try {
    return { name: parseRepositoryName(fullName), reference: parseReference(reference) };
  } catch (error) {
    if (isRegistryError(error)) throw new AugmentError('InvalidRequest', `image reference "${text.slice(0, 300)}": ${error.message}`);
    throw error;
  }
}

/** `ws/repo:tag` or `ws/repo@digest`, the way results name an image. */
export function formatImageReference(image: ImageReference): string {
  return 'tag' in image.reference ? `${image.name.full}:${image.reference.tag}` : `${image.name.full}@${image.reference.digest}`;
}

function withoutHost(path: string, text: string, localHosts: readonly string[]): string {
  const slash = path.indexOf('/');
  if (slash < 0) return path;
  const first = path.slice(0, slash).toLowerCase();
  if (localHosts.some((host) => host.toLowerCase() === first)) return path.slice(slash + 1);
  if (first.includes(':') || first === 'localhost') {
    const known = localHosts.length ? ` (this Berth is ${localHosts.join(', ')})` : '';
    throw new AugmentError('InvalidRequest', `image reference "${text.slice(0, 300)}" names registry ${first}, not this Berth${known}`);
  }
  return path;
}
