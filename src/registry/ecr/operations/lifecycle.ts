import { z } from 'zod';
import type { Lifecycle } from '../../management/lifecycle.ts';
import { epochSeconds, maxResultsSchema, nextTokenSchema, page, parseInput, registryIdSchema, repositoryNameSchema, type EcrOperations, type EcrScope } from '../operation-kit.ts';

const target = { registryId: registryIdSchema, repositoryName: repositoryNameSchema };
const policyText = z.string().min(100).max(30_720);

/** PutLifecyclePolicy, GetLifecyclePolicy, DeleteLifecyclePolicy and the lifecycle preview. */
export function lifecycleOperations(scope: EcrScope, lifecycle: Lifecycle): EcrOperations {
  const answer = (registryId: string, repositoryName: string, lifecyclePolicyText: string) => ({ registryId, repositoryName, lifecyclePolicyText });
  const registryIdOf = (caller: { workspace: { registryId: string } }, registryId?: string) => registryId ?? caller.workspace.registryId;

  return {
    async PutLifecyclePolicy(input, caller) {
      const request = parseInput(z.object({ ...target, lifecyclePolicyText: policyText }).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'admin');
      await lifecycle.put(repository, request.lifecyclePolicyText);
      return answer(registryIdOf(caller, request.registryId), repository.name, request.lifecyclePolicyText);
    },

    async GetLifecyclePolicy(input, caller) {
      const request = parseInput(z.object(target).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read');
      return answer(registryIdOf(caller, request.registryId), repository.name, lifecycle.get(repository));
    },

    async DeleteLifecyclePolicy(input, caller) {
      const request = parseInput(z.object(target).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'admin');
      return answer(registryIdOf(caller, request.registryId), repository.name, await lifecycle.delete(repository));
    },

    async StartLifecyclePolicyPreview(input, caller) {
      const request = parseInput(z.object({ ...target, lifecyclePolicyText: policyText.optional() }).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read');
      const preview = await lifecycle.startPreview(repository, request.lifecyclePolicyText);
      return { ...answer(registryIdOf(caller, request.registryId), repository.name, preview.policyText), status: 'COMPLETE' };
    },

    async GetLifecyclePolicyPreview(input, caller) {
      const request = parseInput(
        z
          .object({
            ...target,
            imageIds: z.array(z.object({ imageDigest: z.string().optional(), imageTag: z.string().optional() }).strict()).min(1).max(100).optional(),
            maxResults: maxResultsSchema(100),
            nextToken: nextTokenSchema,
            filter: z.object({ tagStatus: z.enum(['TAGGED', 'UNTAGGED', 'ANY']) }).strict().optional(),
          })
          .strict(),
        input,
      );
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read');
      const preview = await lifecycle.preview(repository);
      const wanted = preview.expiring.filter(
        (image) =>
          (!request.imageIds || request.imageIds.some((id) => id.imageDigest === image.digest || (id.imageTag !== undefined && image.tags.includes(id.imageTag)))) &&
          (!request.filter || request.filter.tagStatus === 'ANY' || (request.filter.tagStatus === 'TAGGED') === image.tags.length > 0),
      );
      const paged = page(wanted, request.maxResults, request.nextToken, 100);
      return {
        ...answer(registryIdOf(caller, request.registryId), repository.name, preview.policyText),
        status: 'COMPLETE',
        previewResults: paged.items.map((image) => ({
          ...(image.tags.length ? { imageTags: image.tags } : {}),
          imageDigest: image.digest,
          imagePushedAt: epochSeconds(image.pushedAt),
          action: { type: 'EXPIRE' },
          appliedRulePriority: image.rulePriority,
        })),
        summary: { expiringImageTotalCount: preview.expiring.length },
        ...(paged.nextToken ? { nextToken: paged.nextToken } : {}),
      };
    },
  };
}
