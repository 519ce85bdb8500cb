import type { Digest } from '../../registry/digest.ts';
import { mediaTypes, type Descriptor } from '../../registry/manifest.ts';
import { AugmentError } from './augment-errors.ts';
import type { LayerBlob } from './layer-encoding.ts';

/** An image manifest's JSON; fields augmentation does not touch are carried over as they are. */
export type ImageManifestJson = Record<string, unknown> & { config: Descriptor; layers: Descriptor[] };

export interface PlatformJson {
  os?: string;
  architecture?: string;
  variant?: string;
}

export type IndexEntry = Descriptor & { platform?: PlatformJson };

/** An image index's (or Docker manifest list's) JSON. */
export type IndexJson = Record<string, unknown> & { manifests: IndexEntry[] };

const layerTypes = {
  [mediaTypes.ociManifest]: { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', tar: 'application/vnd.oci.image.layer.v1.tar' },
  [mediaTypes.dockerManifest]: { gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip', tar: 'application/vnd.docker.image.rootfs.diff.tar' },
} as const;

/** The annotation buildx puts on the attestation manifests it stores next to each platform image. */
const referenceType = 'vnd.docker.reference.type';

export function isImageManifestType(mediaType: string): mediaType is keyof typeof layerTypes {
  return mediaType in layerTypes;
}

export function isIndexType(mediaType: string): boolean {
  return mediaType === mediaTypes.ociIndex || mediaType === mediaTypes.dockerManifestList;
}

/**
 * The entries of an index to augment, and those left out with the reason. Left out (and so not in
 * the new index): attestation manifests and entries without a real platform (`unknown/unknown`),
 * because they describe the base images, not the new ones; and anything that is not an image
 * manifest (an artifact, a nested index). Throws AugmentError('Unsupported') when nothing is left.
 */
export function choosePlatforms(index: IndexJson, source: string): { chosen: IndexEntry[]; skipped: Array<{ digest: Digest; reason: string }> } {
  const chosen: IndexEntry[] = [];
  const skipped: Array<{ digest: Digest; reason: string }> = [];
  for (const entry of index.manifests) {
    const reason = skipReason(entry);
    if (reason) skipped.push({ digest: entry.digest, reason });
    else chosen.push(entry);
  }
  if (chosen.length === 0) throw new AugmentError('Unsupported', `${source} is an index without any platform image to augment`);
  return { chosen, skipped };
}

function skipReason(entry: IndexEntry): string | undefined {
  if (entry.annotations?.[referenceType] === 'attestation-manifest') return 'attestation manifest';
  if (!isImageManifestType(entry.mediaType)) return `not an image manifest (${entry.mediaType})`;
  const { os, architecture } = entry.platform ?? {};
  if (!os || !architecture || os === 'unknown' || architecture === 'unknown') return 'no platform';
  return undefined;
}

/** `os/architecture[/variant]`. */
export function platformName(platform: PlatformJson | undefined): string {
  return [platform?.os ?? 'unknown', platform?.architecture ?? 'unknown', platform?.variant].filter(Boolean).join('/');
}

/**
 * The base manifest with the new config and the new layers appended. Base layer descriptors are
 * kept exactly (digest, size, media type, annotations, urls). New layers take the media type of the
 * manifest's family: Docker schema 2 stays Docker, OCI stays OCI.
 */
export function augmentManifest(base: ImageManifestJson, manifestType: string, config: Descriptor, added: LayerBlob[]): ImageManifestJson {
  if (!isImageManifestType(manifestType)) throw new AugmentError('Unsupported', `cannot augment a manifest of type ${manifestType}`);
  const types = layerTypes[manifestType];
  const layers = added.map((layer) => ({ mediaType: layer.compressed ? types.gzip : types.tar, digest: layer.digest, size: layer.size }));
  return { ...base, config: { ...base.config, digest: config.digest, size: config.size }, layers: [...base.layers, ...layers] };
}

/** The base index listing the augmented manifests in place of the base ones, and only those. */
export function augmentIndex(base: IndexJson, replaced: Map<Digest, { digest: Digest; size: number }>): IndexJson {
  const manifests = base.manifests.flatMap((entry) => {
    const augmented = replaced.get(entry.digest);
    return augmented ? [{ ...entry, digest: augmented.digest, size: augmented.size }] : [];
  });
  return { ...base, manifests };
}

/** Parses manifest or config JSON read from the registry; Unsupported when it is not an object of the expected shape. */
export function parseJsonObject<T extends Record<string, unknown>>(bytes: Buffer, what: string, check: (value: Record<string, unknown>) => boolean): T {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AugmentError('Unsupported', `${what} is not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !check(value as Record<string, unknown>)) {
    throw new AugmentError('Unsupported', `${what} does not have the expected shape`);
  }
  return value as T;
}
