import { Readable } from 'node:stream';
import type { Actor, RegistryAccess } from '../../registry/auth/access.ts';
import type { RepositoryAction } from '../../registry/auth/scope.ts';
import { digestOf, type Digest } from '../../registry/digest.ts';
import { isRegistryError } from '../../registry/errors.ts';
import type { Descriptor } from '../../registry/manifest.ts';
import type { RepositoryName } from '../../registry/names.ts';
import type { Registry } from '../../registry/registry.ts';
import type { Repository, RepositoryIndex } from '../../registry/repository-index.ts';
import type { Uploads } from '../../registry/uploads.ts';
import { AugmentError } from './augment-errors.ts';
import { loadBaseImage, type BaseImage, type PlatformImage } from './base-image.ts';
import { augmentConfig, changesConfig, validateChanges, type ConfigChanges } from './image-config.ts';
import { augmentIndex, augmentManifest } from './image-manifests.ts';
import { formatImageReference, parseImageReference, type ImageReference } from './image-reference.ts';
import type { LayerBlob } from './layer-encoding.ts';
import { checkLayerInputs, storeLayer, uploadBlob, type LayerInput, type LayerTarget } from './layer-inputs.ts';

/** The registry's domain services (`RegistryDomain` of the composition root satisfies this). */
export interface AugmentDeps {
  registry: Registry;
  uploads: Uploads;
  index: RepositoryIndex;
  access: RegistryAccess;
  /** `host[:port]` names clients use for this registry: references may start with one of them. */
  localHosts?: readonly string[];
  /** The time written into the new configs and history entries (default: now). */
  now?: () => Date;
}

export interface AugmentRequest extends ConfigChanges {
  /** Who asks: must be allowed to pull `source` and push `target`. */
  actor: Actor;
  /** `ws/repo:tag`, `ws/repo@sha256:…`, optionally with this registry's host in front. */
  source: string;
  /** Where the new image goes: `ws/repo:tag` (a tag, not a digest). */
  target: string;
  /** Appended in order, on every platform. */
  layers: LayerInput[];
}

export interface AugmentResult {
  /** `ws/repo:tag` of the new image. */
  target: string;
  /** Digest of what the tag now names: the new index, or the new manifest of a single-platform image. */
  digest: Digest;
  mediaType: string;
  platforms: Array<{ platform: string; digest: Digest }>;
  /** Base layers linked into the target repository; none of their bytes were read or copied. */
  mountedLayers: Digest[];
  /** The new layers' blobs in the target repository, in the order they were appended. */
  uploadedLayers: Digest[];
  /** Index entries left out of the new index (attestations, entries without a platform), with why. */
  skipped: Array<{ digest: Digest; reason: string }>;
}

/**
 * Makes a new image from `source` by manifest surgery, without a rebuild: the new layers are
 * uploaded once into the target repository, each platform gets a new config (diff_ids, history,
 * env/entrypoint/cmd/workdir/labels) and a new manifest listing the base layers unchanged, and an
 * index of several platforms gets a new index. Base layers are linked into the target repository
 * by the metadata index and never read, so the time taken does not depend on the base's size.
 *
 * Everything that can be refused is checked before the first write: the request (references, env
 * syntax, layer paths), the caller's rights (pull on the source, push on the target) and the
 * source itself. Throws AugmentError, or the registry's own RegistryError (an immutable tag).
 */
export async function augmentImage(deps: AugmentDeps, request: AugmentRequest): Promise<AugmentResult> {
  const source = parseImageReference(request.source, deps.localHosts);
  const target = parseImageReference(request.target, deps.localHosts);
  if (!('tag' in target.reference)) throw new AugmentError('InvalidRequest', `target ${request.target} must name a tag, not a digest`);
  validateChanges(request);
  if (request.layers.length === 0 && !changesConfig(request)) {
    throw new AugmentError('InvalidRequest', 'nothing to add: give at least one layer, or env, entrypoint, cmd, workdir or labels');
  }
  await checkLayerInputs(request.layers);
  await authorize(deps, request.actor, source.name, 'pull', 'source');
  await authorize(deps, request.actor, target.name, 'push', 'target');
  const base = await loadBaseImage(deps.registry, source);
  const mountedLayers = await storedBaseLayers(deps.index, base, formatImageReference(source));

  const repository = await deps.registry.forPush(target.name);
  const layerTarget: LayerTarget = { registry: deps.registry, uploads: deps.uploads, repository };
  const layers: LayerBlob[] = [];
  for (const input of request.layers) layers.push(await storeLayer(layerTarget, input));
  await mountBaseLayers(deps.index, mountedLayers, repository, formatImageReference(source));

  const created = (deps.now?.() ?? new Date()).toISOString();
  const single = base.index === undefined;
  const platforms: Array<{ platform: string; digest: Digest; size: number; replaces: Digest }> = [];
  for (const image of base.platforms) {
    // A single-platform image's manifest is what the tag names; an index's manifests go untagged.
    const written = await writePlatform(deps, layerTarget, image, layers, request, created, single ? target : undefined);
    platforms.push({ platform: image.platform, ...written, replaces: image.digest });
  }
  const top = base.index ? await writeIndex(deps.registry, repository, base.index, platforms, target) : { digest: platforms[0]!.digest, mediaType: base.platforms[0]!.mediaType };
  return {
    target: formatImageReference(target),
    digest: top.digest,
    mediaType: top.mediaType,
    platforms: platforms.map(({ platform, digest }) => ({ platform, digest })),
    mountedLayers,
    uploadedLayers: layers.map((layer) => layer.digest),
    skipped: base.skipped,
  };
}

/**
 * Refuses a caller without the right, the way the OCI face does: a source in a workspace that does
 * not exist is unknown, anything else not allowed is denied.
 */
async function authorize(deps: AugmentDeps, actor: Actor, name: RepositoryName, action: RepositoryAction, role: 'source' | 'target'): Promise<void> {
  if ((await deps.access.allowedActions(actor, name)).has(action)) return;
  const workspaceExists = await deps.registry.workspaceOf(name).then(
    () => true,
    (error: unknown) => (isRegistryError(error, 'NameUnknown') ? false : Promise.reject(error)),
  );
  if (!workspaceExists && role === 'source') throw new AugmentError('SourceUnknown', `source image ${name.full} not found: no workspace "${name.workspace}"`);
  if (!workspaceExists) throw new AugmentError('Denied', `no workspace "${name.workspace}": push to <your workspace>/${name.path}`);
  throw new AugmentError('Denied', `${action} on ${name.full} is not allowed for ${actor.user.name}`);
}

/**
 * The base layers to mount (foreign layers, with `urls`, live elsewhere), after checking that the
 * source repository holds each one: a pull-through cache that has not fetched a layer yet is
 * refused rather than made to download it.
 */
async function storedBaseLayers(index: RepositoryIndex, base: BaseImage, described: string): Promise<Digest[]> {
  const digests = new Set<Digest>();
  for (const image of base.platforms) for (const layer of image.manifest.layers) if (!layer.urls?.length) digests.add(layer.digest);
  for (const digest of digests) if (!(await index.linkedBlob(base.repository.id, digest))) throw incomplete(digest, described);
  return [...digests];
}

/** Links the base layers into the target repository through the metadata index, as a cross-repository mount does. */
async function mountBaseLayers(index: RepositoryIndex, digests: Digest[], target: Repository, described: string): Promise<void> {
  for (const digest of digests) if (!(await index.linkExisting(target.id, digest))) throw incomplete(digest, described);
}

function incomplete(digest: Digest, described: string): AugmentError {
  return new AugmentError('SourceIncomplete', `base layer ${digest} of ${described} is not stored in Berth: pull ${described} once, then augment it`);
}

async function writePlatform(
  deps: AugmentDeps,
  target: LayerTarget,
  image: PlatformImage,
  layers: LayerBlob[],
  changes: ConfigChanges,
  created: string,
  tagged: ImageReference | undefined,
): Promise<{ digest: Digest; size: number }> {
  const configBytes = Buffer.from(JSON.stringify(augmentConfig(image.config, layers, changes, created)));
  const config: Descriptor = { mediaType: image.manifest.config.mediaType, ...(await uploadBlob(target, Readable.from([configBytes]), () => digestOf(configBytes))) };
  const manifestBytes = Buffer.from(JSON.stringify(augmentManifest(image.manifest, image.mediaType, config, layers)));
  const { digest } = await deps.registry.putManifest(target.repository, tagged?.reference, manifestBytes, image.mediaType);
  return { digest, size: manifestBytes.length };
}

async function writeIndex(
  registry: Registry,
  repository: Repository,
  base: NonNullable<BaseImage['index']>,
  platforms: Array<{ digest: Digest; size: number; replaces: Digest }>,
  target: ImageReference,
): Promise<{ digest: Digest; mediaType: string }> {
  const replaced = new Map(platforms.map((p) => [p.replaces, { digest: p.digest, size: p.size }]));
  const bytes = Buffer.from(JSON.stringify(augmentIndex(base.json, replaced)));
  const { digest } = await registry.putManifest(repository, target.reference, bytes, base.mediaType);
  return { digest, mediaType: base.mediaType };
}
