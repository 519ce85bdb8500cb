import { z } from 'zod';
import type { Workspace } from '../../../identity/identity-store.ts';
import { RegistryError } from '../../errors.ts';
import type { Repository, RepositoryIndex, RepositorySettings } from '../../repository-index.ts';
import { EcrError } from '../ecr-errors.ts';
import {
  epochSeconds,
  maxResultsSchema,
  nextTokenSchema,
  notFound,
  page,
  parseInput,
  registryIdSchema,
  repositoryNameSchema,
  type EcrCaller,
  type EcrOperations,
  type EcrScope,
} from '../operation-kit.ts';

const tagSchema = z.object({ Key: z.string().min(1).max(128), Value: z.string().max(256) }).strict();
const mutabilitySchema = z.enum(['MUTABLE', 'IMMUTABLE']);
const encryptionSchema = z
  .object({ encryptionType: z.enum(['AES256', 'KMS']), kmsKey: z.string().min(1).max(2048).optional() })
  .strict()
  .refine((e) => e.encryptionType === 'KMS' || e.kmsKey === undefined, 'kmsKey is only allowed with encryptionType KMS');

/** ECR's view of a repository. */
export function describeRepository(repository: Repository, workspace: Workspace, caller: EcrCaller) {
  return {
    repositoryArn: repositoryArn(caller, workspace, repository.name),
    registryId: workspace.registryId,
    repositoryName: repository.name,
    repositoryUri: `${caller.host}/${workspace.slug}/${repository.name}`,
    createdAt: epochSeconds(repository.createdAt),
    imageTagMutability: repository.imageTagMutability,
    imageScanningConfiguration: { scanOnPush: repository.scanOnPush },
    encryptionConfiguration: { encryptionType: repository.encryptionType, ...(repository.kmsKey ? { kmsKey: repository.kmsKey } : {}) },
  };
}

export function repositoryArn(caller: EcrCaller, workspace: Workspace, name: string): string {
  return `arn:aws:ecr:${caller.region}:${workspace.registryId}:repository/${name}`;
}

/** CreateRepository, DescribeRepositories, DeleteRepository and the per-repository settings. */
export function repositoryOperations(scope: EcrScope, index: RepositoryIndex): EcrOperations {
  const arnPattern = /^arn:aws:ecr:[^:]*:(\d{12}):repository\/(.+)$/;
  const byArn = (arn: string) => {
    const match = arnPattern.exec(arn);
    if (!match) throw new EcrError('InvalidParameterException', `Invalid parameter at 'resourceArn': "${arn.slice(0, 300)}" is not a repository ARN`);
    return { registryId: match[1]!, name: match[2]! };
  };

  return {
    async CreateRepository(input, caller) {
      const request = parseInput(
        z
          .object({
            registryId: registryIdSchema,
            repositoryName: repositoryNameSchema,
            tags: z.array(tagSchema).max(50).optional(),
            imageTagMutability: mutabilitySchema.optional(),
            imageScanningConfiguration: z.object({ scanOnPush: z.boolean() }).strict().optional(),
            encryptionConfiguration: encryptionSchema.optional(),
          })
          .strict(),
        input,
      );
      const workspace = await scope.workspace(caller, request.registryId, 'write');
      scope.fullName(workspace, request.repositoryName);
      const settings: Partial<RepositorySettings> = {
        imageTagMutability: request.imageTagMutability,
        scanOnPush: request.imageScanningConfiguration?.scanOnPush,
        encryptionType: request.encryptionConfiguration?.encryptionType,
        kmsKey: request.encryptionConfiguration?.kmsKey,
        resourceTags: request.tags,
      };
      try {
        const repository = await index.create(workspace.id, request.repositoryName, withoutUndefined(settings));
        return { repository: describeRepository(repository, workspace, caller) };
      } catch (error) {
        if (error instanceof RegistryError && error.kind === 'RepositoryAlreadyExists') {
          throw new EcrError('RepositoryAlreadyExistsException', `The repository with name '${request.repositoryName}' already exists in the registry with id '${workspace.registryId}'`);
        }
        throw error;
      }
    },

    async DescribeRepositories(input, caller) {
      const request = parseInput(
        z
          .object({
            registryId: registryIdSchema,
            repositoryNames: z.array(repositoryNameSchema).min(1).max(100).optional(),
            maxResults: maxResultsSchema(1000),
            nextToken: nextTokenSchema,
          })
          .strict(),
        input,
      );
      if (request.repositoryNames && (request.maxResults || request.nextToken)) {
        throw new EcrError('InvalidParameterException', 'Invalid parameter: maxResults and nextToken cannot be used with repositoryNames');
      }
      const workspace = await scope.workspace(caller, request.registryId, 'read');
      if (request.repositoryNames) {
        const repositories = [];
        for (const name of request.repositoryNames) {
          const repository = await index.find(workspace.id, name);
          if (!repository) throw notFound(name, workspace);
          repositories.push(describeRepository(repository, workspace, caller));
        }
        return { repositories };
      }
      const all = await index.list(workspace.id, {});
      const paged = page(all, request.maxResults, request.nextToken);
      return { repositories: paged.items.map((r) => describeRepository(r, workspace, caller)), ...(paged.nextToken ? { nextToken: paged.nextToken } : {}) };
    },

    async DeleteRepository(input, caller) {
      const request = parseInput(z.object({ registryId: registryIdSchema, repositoryName: repositoryNameSchema, force: z.boolean().optional() }).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'write');
      const workspace = await scope.workspace(caller, request.registryId, 'write');
      if (!request.force && (await index.hasImages(repository.id))) {
        throw new EcrError(
          'RepositoryNotEmptyException',
          `The repository with name '${repository.name}' in registry with id '${workspace.registryId}' cannot be deleted because it still contains images`,
        );
      }
      await index.delete(repository.id);
      return { repository: describeRepository(repository, workspace, caller) };
    },

    async PutImageTagMutability(input, caller) {
      const request = parseInput(
        z.object({ registryId: registryIdSchema, repositoryName: repositoryNameSchema, imageTagMutability: mutabilitySchema }).strict(),
        input,
      );
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'write');
      await index.update(repository.id, { imageTagMutability: request.imageTagMutability });
      return { registryId: (await scope.workspace(caller, request.registryId, 'write')).registryId, repositoryName: repository.name, imageTagMutability: request.imageTagMutability };
    },

    async PutImageScanningConfiguration(input, caller) {
      const request = parseInput(
        z
          .object({ registryId: registryIdSchema, repositoryName: repositoryNameSchema, imageScanningConfiguration: z.object({ scanOnPush: z.boolean() }).strict() })
          .strict(),
        input,
      );
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'write');
      await index.update(repository.id, { scanOnPush: request.imageScanningConfiguration.scanOnPush });
      return {
        registryId: (await scope.workspace(caller, request.registryId, 'write')).registryId,
        repositoryName: repository.name,
        imageScanningConfiguration: request.imageScanningConfiguration,
      };
    },

    async ListTagsForResource(input, caller) {
      const request = parseInput(z.object({ resourceArn: z.string() }).strict(), input);
      const { registryId, name } = byArn(request.resourceArn);
      const repository = await scope.repository(caller, registryId, name, 'read');
      return { tags: repository.resourceTags };
    },

    async TagResource(input, caller) {
      const request = parseInput(z.object({ resourceArn: z.string(), tags: z.array(tagSchema).max(50) }).strict(), input);
      const { registryId, name } = byArn(request.resourceArn);
      const repository = await scope.repository(caller, registryId, name, 'write');
      const merged = new Map(repository.resourceTags.map((t) => [t.Key, t.Value]));
      for (const tag of request.tags) merged.set(tag.Key, tag.Value);
      if (merged.size > 50) throw new EcrError('InvalidParameterException', 'A repository can have at most 50 tags');
      await index.update(repository.id, { resourceTags: [...merged].map(([Key, Value]) => ({ Key, Value })) });
      return {};
    },

    async UntagResource(input, caller) {
      const request = parseInput(z.object({ resourceArn: z.string(), tagKeys: z.array(z.string()).max(50) }).strict(), input);
      const { registryId, name } = byArn(request.resourceArn);
      const repository = await scope.repository(caller, registryId, name, 'write');
      await index.update(repository.id, { resourceTags: repository.resourceTags.filter((t) => !request.tagKeys.includes(t.Key)) });
      return {};
    },

    async DescribeRegistry(input, caller) {
      parseInput(z.object({}).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'read');
      return { registryId: workspace.registryId, replicationConfiguration: { rules: [] } };
    },
  };
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
