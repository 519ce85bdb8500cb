import { isDigest, type Digest } from './digest.ts';
import { RegistryError } from './errors.ts';

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

const imageManifestTypes = new Set<string>([mediaTypes.ociManifest, mediaTypes.dockerManifest]);
const indexTypes = new Set<string>([mediaTypes.ociIndex, mediaTypes.dockerManifestList]);
/** Content types that say nothing about the manifest; the body's own mediaType decides then. */
const genericContentTypes = new Set(['', 'application/json', 'application/octet-stream']);

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
  urls?: string[];
  platform?: unknown;
}

/** What the registry needs to know of a manifest; the bytes themselves are stored untouched. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs (config and layers) that must exist in the repository. */
  blobs: Digest[];
  /** Child manifests (of an index) that must exist in the repository. */
  manifests: Digest[];
  subject?: Digest;
  /** What the referrers API reports: artifactType, else an image's config media type. */
  artifactType?: string;
  annotations?: Record<string, string>;
}

export const supportedManifestTypes: readonly string[] = [...imageManifestTypes, ...indexTypes];

/**
 * Parses and checks a manifest pushed with `contentType`. Throws ManifestInvalid naming the first
 * problem; never looks at storage.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw invalid(`manifest is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(body)) throw invalid('manifest must be a JSON object');
  if (body.schemaVersion !== 2) throw invalid(`schemaVersion must be 2 (got ${JSON.stringify(body.schemaVersion) ?? 'nothing'})`);
  const mediaType = resolveMediaType(body, contentType);
  const subject = body.subject === undefined ? undefined : descriptor(body.subject, 'subject').digest;
  const annotations = stringMap(body.annotations, 'annotations');
  const declaredArtifactType = optionalString(body.artifactType, 'artifactType');
  if (imageManifestTypes.has(mediaType)) {
    const config = descriptor(body.config, 'config');
    const layers = descriptorList(body.layers, 'layers');
    // Foreign (non-distributable) layers live elsewhere, named by their urls.
    const stored = layers.filter((layer) => !layer.urls?.length);
    return {
      mediaType,
      blobs: unique([config.digest, ...stored.map((layer) => layer.digest)]),
      manifests: [],
      subject,
      artifactType: declaredArtifactType ?? config.mediaType,
      annotations,
    };
  }
  const children = descriptorList(body.manifests, 'manifests');
  return {
    mediaType,
    blobs: [],
    manifests: unique(children.map((child) => child.digest)),
    subject,
    artifactType: declaredArtifactType,
    annotations,
  };
}

function resolveMediaType(body: Record<string, unknown>, contentType: string | undefined): string {
  const header = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  const declared = optionalString(body.mediaType, 'mediaType');
  if (declared !== undefined && !genericContentTypes.has(header) && declared !== header) {
    throw invalid(`manifest mediaType "${declared}" does not match Content-Type "${header}"`);
  }
  const chosen = genericContentTypes.has(header) ? (declared ?? guessMediaType(body)) : header;
  if (!supportedManifestTypes.includes(chosen)) {
    throw invalid(`unsupported manifest media type "${chosen}"; supported: ${supportedManifestTypes.join(', ')}`);
  }
  return chosen;
}

function guessMediaType(body: Record<string, unknown>): string {
  if (Array.isArray(body.manifests)) return mediaTypes.ociIndex;
  return mediaTypes.ociManifest;
}

function descriptor(value: unknown, where: string): Descriptor {
  if (!isObject(value)) throw invalid(`${where} must be a descriptor object`);
  if (typeof value.mediaType !== 'string' || value.mediaType === '') throw invalid(`${where}.mediaType must be a non-empty string`);
  if (typeof value.digest !== 'string' || !isDigest(value.digest)) throw invalid(`${where}.digest is not a valid digest`);
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`);
  }
  if (value.urls !== undefined && !(Array.isArray(value.urls) && value.urls.every((u) => typeof u === 'string'))) {
    throw invalid(`${where}.urls must be a list of strings`);
  }
  return {
    mediaType: value.mediaType,
    digest: value.digest,
    size: value.size,
    artifactType: optionalString(value.artifactType, `${where}.artifactType`),
    annotations: stringMap(value.annotations, `${where}.annotations`),
    urls: value.urls as string[] | undefined,
  };
}

function descriptorList(value: unknown, where: string): Descriptor[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${where} must be a list of descriptors`);
  return value.map((item, i) => descriptor(item, `${where}[${i}]`));
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(`${where} must be a string`);
  return value;
}

function stringMap(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}

function invalid(message: string): RegistryError {
  return new RegistryError('ManifestInvalid', message);
}
