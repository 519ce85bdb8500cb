import { dockerHub } from '../references.ts';
import type { MappedImage, Mirror } from './image-mapping.ts';

export type RegistryMapFormat = 'flat' | 'healthomics';

/** `{"<normalised source>": "<target>"}`, sorted by source. */
export type FlatRegistryMap = Record<string, string>;

/** AWS HealthOmics' container registry map (CreateWorkflow's `containerRegistryMap`), field names as AWS spells them. */
export interface HealthOmicsRegistryMap {
  registryMappings: Array<{
    upstreamRegistryUrl: string;
    ecrRepositoryPrefix: string;
    /** Only for an Amazon ECR mirror (`<account>.dkr.ecr.<region>.amazonaws.com`): its 12-digit account. */
    ecrAccountId?: string;
  }>;
  imageMappings: Array<{ sourceImage: string; destinationImage: string }>;
}

/** The upstream registry URL ECR pull-through rules and HealthOmics use for a source host. */
const upstreamUrls: Record<string, string> = { [dockerHub]: 'registry-1.docker.io' };

export function flatRegistryMap(images: readonly MappedImage[]): FlatRegistryMap {
  const entries = new Map(images.map((image) => [image.normalized, image.target]));
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Registry mappings for the registries served through pull-through (one per source registry used), image mappings
 * for the cloned images. `ecrRepositoryPrefix` is the path between the mirror's host and the upstream repository
 * (`<workspace>/<prefix>` on Berth, `<prefix>` at an ECR registry's root), so that host + prefix + repository is the
 * pull-through location. Images already on the mirror need no mapping and are left out.
 */
export function healthOmicsRegistryMap(images: readonly MappedImage[], mirror: Mirror): HealthOmicsRegistryMap {
  const account = /^(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$/.exec(mirror.host)?.[1];
  const registries = new Map<string, string>();
  const clones = new Map<string, string>();
  for (const image of images) {
    if (image.onMirror) continue;
    if (image.via === 'pull-through' && image.prefix) registries.set(image.registry, mirror.path ? `${mirror.path}/${image.prefix}` : image.prefix);
    else clones.set(image.normalized, image.target);
  }
  const byKey = <T>(entries: Iterable<[string, T]>) => [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    registryMappings: byKey(registries).map(([registry, ecrRepositoryPrefix]) => ({
      upstreamRegistryUrl: upstreamUrls[registry] ?? registry,
      ecrRepositoryPrefix,
      ...(account ? { ecrAccountId: account } : {}),
    })),
    imageMappings: byKey(clones).map(([sourceImage, destinationImage]) => ({ sourceImage, destinationImage })),
  };
}
