import { z } from 'zod';
import { isDigest, type Digest } from '../../digest.ts';
import type { ImageCatalog, ImageDetail, ImageId } from '../../management/image-catalog.ts';
import { mediaTypes } from '../../manifest.ts';
import type { Registry } from '../../registry.ts';
import type { Repository } from '../../repository-index.ts';
import { EcrError } from '../ecr-errors.ts';
import { epochSeconds, maxResultsSchema, nextTokenSchema, page, parseInput, registryIdSchema, repositoryNameSchema, type EcrOperations, type EcrScope } from '../operation-kit.ts';

const imageIdSchema = z.object({ imageDigest: z.string().optional(), imageTag: z.string().min(1).max(300).optional() }).strict();
const filterSchema = z.object({ tagStatus: z.enum(['TAGGED', 'UNTAGGED', 'ANY']).optional() }).strict().optional();
const target = { registryId: registryIdSchema, repositoryName: repositoryNameSchema };
const noScanner = 'Berth has no vulnerability scanner configured: scans requested on push are recorded, not run.';

/** Images: listing, describing, fetching and deleting manifests, and PutImage. */
export function imageOperations(scope: EcrScope, registry: Registry, catalog: ImageCatalog): EcrOperations {
  const detailOf = (repository: Repository, registryId: string) => (image: ImageDetail) => ({
    registryId,
    repositoryName: repository.name,
    imageDigest: image.digest,
    ...(image.tags.length ? { imageTags: image.tags } : {}),
    imageSizeInBytes: image.sizeInBytes,
    imagePushedAt: epochSeconds(image.pushedAt),
    imageManifestMediaType: image.mediaType,
    ...(image.artifactType ? { artifactMediaType: image.artifactType } : {}),
    ...(image.lastPulledAt ? { lastRecordedPullTime: epochSeconds(image.lastPulledAt) } : {}),
    ...(image.scanRequestedAt ? { imageScanStatus: { status: 'UNSUPPORTED_IMAGE', description: noScanner } } : {}),
  });
  const registryIdOf = async (caller: Parameters<EcrScope['workspace']>[0], registryId: string | undefined) =>
    registryId ?? caller.workspace.registryId;

  return {
    async ListImages(input, caller) {
      const request = parseInput(z.object({ ...target, maxResults: maxResultsSchema(1000), nextToken: nextTokenSchema, filter: filterSchema }).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read', { pullByPolicy: true });
      const images = await catalog.details(repository, request.filter?.tagStatus ?? 'ANY');
      const ids: ImageId[] = images.flatMap((image) => (image.tags.length ? image.tags.map((tag) => ({ imageDigest: image.digest, imageTag: tag })) : [{ imageDigest: image.digest }]));
      const paged = page(ids, request.maxResults, request.nextToken);
      return { imageIds: paged.items, ...(paged.nextToken ? { nextToken: paged.nextToken } : {}) };
    },

    async DescribeImages(input, caller) {
      const request = parseInput(
        z.object({ ...target, imageIds: z.array(imageIdSchema).min(1).max(100).optional(), maxResults: maxResultsSchema(1000), nextToken: nextTokenSchema, filter: filterSchema }).strict(),
        input,
      );
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read', { pullByPolicy: true });
      const describe = detailOf(repository, await registryIdOf(caller, request.registryId));
      if (request.imageIds) return { imageDetails: (await catalog.describe(repository, request.imageIds)).map(describe) };
      const paged = page(await catalog.details(repository, request.filter?.tagStatus ?? 'ANY'), request.maxResults, request.nextToken);
      return { imageDetails: paged.items.map(describe), ...(paged.nextToken ? { nextToken: paged.nextToken } : {}) };
    },

    async BatchGetImage(input, caller) {
      const request = parseInput(
        z.object({ ...target, imageIds: z.array(imageIdSchema).min(1).max(100), acceptedMediaTypes: z.array(z.string()).min(1).max(100).optional() }).strict(),
        input,
      );
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read', { pullByPolicy: true });
      const registryId = await registryIdOf(caller, request.registryId);
      const images = [];
      const failures = [];
      for (const id of request.imageIds) {
        const resolved = await catalog.resolve(repository, id);
        if ('failureCode' in resolved) {
          failures.push(resolved);
          continue;
        }
        const record = await registry.manifest(repository, { digest: resolved.digest });
        if (request.acceptedMediaTypes && !request.acceptedMediaTypes.includes(record.mediaType)) {
          failures.push({ imageId: id, failureCode: 'UnsupportedImageType', failureReason: `The image's manifest is ${record.mediaType}, not an accepted media type` });
          continue;
        }
        const manifest = (await registry.manifestBytes(record)).toString('utf8');
        await registry.recordPull(repository, record.digest);
        images.push({
          registryId,
          repositoryName: repository.name,
          imageId: { imageDigest: record.digest, ...(id.imageTag ? { imageTag: id.imageTag } : {}) },
          imageManifest: manifest,
          imageManifestMediaType: record.mediaType,
        });
      }
      return { images, failures };
    },

    async BatchDeleteImage(input, caller) {
      const request = parseInput(z.object({ ...target, imageIds: z.array(imageIdSchema).min(1).max(100) }).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'write');
      const { deleted, failures } = await catalog.delete(repository, request.imageIds);
      return { imageIds: deleted, failures };
    },

    async PutImage(input, caller) {
      const request = parseInput(
        z
          .object({
            ...target,
            imageManifest: z.string().min(1).max(4 * 1024 * 1024),
            imageManifestMediaType: z.string().optional(),
            imageTag: z.string().min(1).max(300).optional(),
            imageDigest: z.string().optional(),
          })
          .strict(),
        input,
      );
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'write');
      const bytes = Buffer.from(request.imageManifest, 'utf8');
      if (request.imageTag) {
        const current = await registry.manifest(repository, { tag: request.imageTag }).catch(() => undefined);
        if (current && (await registry.manifestBytes(current)).equals(bytes)) {
          throw new EcrError('ImageAlreadyExistsException', `Image with digest '${current.digest}' and tag '${request.imageTag}' already exists in the repository with name '${repository.name}'`);
        }
      }
      if (request.imageDigest !== undefined && !isDigest(request.imageDigest)) {
        throw new EcrError('InvalidParameterException', `Invalid parameter at 'imageDigest': "${request.imageDigest.slice(0, 200)}" is not a digest`);
      }
      const reference = request.imageDigest ? { digest: request.imageDigest as Digest } : request.imageTag ? { tag: request.imageTag } : undefined;
      const contentType = request.imageManifestMediaType ?? mediaTypeOf(request.imageManifest);
      const { digest } = await registry.putManifest(repository, reference, bytes, contentType);
      if (request.imageDigest && request.imageTag) await registry.putManifest(repository, { tag: request.imageTag }, bytes, contentType);
      return {
        image: {
          registryId: await registryIdOf(caller, request.registryId),
          repositoryName: repository.name,
          imageId: { imageDigest: digest, ...(request.imageTag ? { imageTag: request.imageTag } : {}) },
          imageManifest: request.imageManifest,
          imageManifestMediaType: contentType,
        },
      };
    },

    async BatchCheckLayerAvailability(input, caller) {
      const request = parseInput(z.object({ ...target, layerDigests: z.array(z.string()).min(1).max(100) }).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read', { pullByPolicy: true });
      const layers = [];
      const failures = [];
      for (const layerDigest of request.layerDigests) {
        if (!isDigest(layerDigest)) {
          failures.push({ layerDigest, failureCode: 'InvalidLayerDigest', failureReason: 'Invalid layer digest' });
          continue;
        }
        const size = await registry.blobSize(repository, layerDigest).catch(() => undefined);
        layers.push({ layerDigest, layerAvailability: size === undefined ? 'UNAVAILABLE' : 'AVAILABLE', ...(size === undefined ? {} : { layerSize: size }) });
      }
      return { layers, failures };
    },

    async StartImageScan() {
      throw new EcrError('UnsupportedImageTypeException', noScanner);
    },

    async DescribeImageScanFindings() {
      throw new EcrError('UnsupportedImageTypeException', noScanner);
    },
  };
}

function mediaTypeOf(manifest: string): string {
  try {
    const declared = (JSON.parse(manifest) as { mediaType?: unknown }).mediaType;
    return typeof declared === 'string' ? declared : mediaTypes.ociManifest;
  } catch {
    throw new EcrError('InvalidParameterException', "Invalid parameter at 'imageManifest': the manifest is not valid JSON");
  }
}
