import type { Digest } from '../../registry/digest.ts';
import { isRegistryError } from '../../registry/errors.ts';
import type { Descriptor } from '../../registry/manifest.ts';
import type { Registry } from '../../registry/registry.ts';
import type { Repository } from '../../registry/repository-index.ts';
import { AugmentError } from './augment-errors.ts';
import type { ImageConfig } from './image-config.ts';
import {
  choosePlatforms,
  isImageManifestType,
  isIndexType,
  parseJsonObject,
  platformName,
  type ImageManifestJson,
  type IndexJson,
  type PlatformJson,
} from './image-manifests.ts';
import { formatImageReference, type ImageReference } from './image-reference.ts';

/** Configs are small JSON documents; a larger one is not an image config. */
const maxConfigBytes = 8 * 1024 * 1024;

/** One platform's image of the base: its manifest and config, as stored. */
export interface PlatformImage {
  platform: string;
  digest: Digest;
  mediaType: string;
  manifest: ImageManifestJson;
  config: ImageConfig;
}

/** The source image, read from the registry: manifests and configs only, never a layer. */
export interface BaseImage {
  repository: Repository;
  digest: Digest;
  /** The index (or manifest list) the reference names, when it names one. */
  index?: { mediaType: string; json: IndexJson };
  platforms: PlatformImage[];
  /** Index entries that are not augmented (and so not in the new index), with why. */
  skipped: Array<{ digest: Digest; reason: string }>;
}

/**
 * Reads the source image. Throws AugmentError('SourceUnknown') naming the reference when the
 * repository, tag or digest does not exist, and AugmentError('Unsupported') for what cannot be
 * augmented (a nested index, a manifest without an image config).
 */
export async function loadBaseImage(registry: Registry, source: ImageReference): Promise<BaseImage> {
  const described = formatImageReference(source);
  const repository = await registry.existing(source.name).catch(unknownSource(described));
  const top = await registry.manifest(repository, source.reference).catch(unknownSource(described));
  const bytes = await registry.manifestBytes(top);
  if (isImageManifestType(top.mediaType)) {
    const image = await readImage(registry, repository, top.digest, top.mediaType, bytes, undefined);
    return { repository, digest: top.digest, platforms: [image], skipped: [] };
  }
  if (!isIndexType(top.mediaType)) throw new AugmentError('Unsupported', `${described} is a ${top.mediaType}, not an image`);
  const index = parseJsonObject<IndexJson>(bytes, `the index of ${described}`, (value) => Array.isArray(value.manifests));
  const { chosen, skipped } = choosePlatforms(index, described);
  const platforms: PlatformImage[] = [];
  for (const entry of chosen) {
    const record = await registry.manifest(repository, { digest: entry.digest });
    platforms.push(await readImage(registry, repository, record.digest, record.mediaType, await registry.manifestBytes(record), entry.platform));
  }
  return { repository, digest: top.digest, index: { mediaType: top.mediaType, json: index }, platforms, skipped };
}

async function readImage(
  registry: Registry,
  repository: Repository,
  digest: Digest,
  mediaType: string,
  bytes: Buffer,
  platform: PlatformJson | undefined,
): Promise<PlatformImage> {
  const manifest = parseJsonObject<ImageManifestJson>(bytes, `manifest ${digest}`, (value) => isObject(value.config) && Array.isArray(value.layers));
  const config = parseJsonObject<ImageConfig>(await readConfig(registry, repository, manifest.config), `config ${manifest.config.digest}`, () => true);
  const configPlatform = { os: asString(config.os), architecture: asString(config.architecture), variant: asString(config.variant) };
  return { platform: platformName(platform ?? configPlatform), digest, mediaType, manifest, config };
}

async function readConfig(registry: Registry, repository: Repository, descriptor: Descriptor): Promise<Buffer> {
  if (descriptor.size > maxConfigBytes || descriptor.size <= 0) {
    throw new AugmentError('Unsupported', `config ${descriptor.digest} is ${descriptor.size} bytes; an image config is at most ${maxConfigBytes}`);
  }
  const chunks: Buffer[] = [];
  // An exact range: the config's size is known, and only these bytes are ever read.
  for await (const chunk of await registry.openBlob(repository, descriptor.digest, { start: 0, end: descriptor.size - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function unknownSource(described: string): (error: unknown) => never {
  return (error) => {
    if (isRegistryError(error, 'NameUnknown') || isRegistryError(error, 'ManifestUnknown')) {
      throw new AugmentError('SourceUnknown', `source image ${described} not found: ${error.message}`);
    }
    throw error;
  };
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function isObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
