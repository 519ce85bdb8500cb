import { z } from 'zod';
import type { Policies } from '../../management/policies.ts';
import { parseInput, registryIdSchema, repositoryNameSchema, type EcrOperations, type EcrScope } from '../operation-kit.ts';

const target = { registryId: registryIdSchema, repositoryName: repositoryNameSchema };
const policyText = z.string().min(0).max(10_240);

/** Repository policies (Set/Get/DeleteRepositoryPolicy) and the registry policy (Put/Get/DeleteRegistryPolicy). */
export function policyOperations(scope: EcrScope, policies: Policies): EcrOperations {
  const registryIdOf = (caller: { workspace: { registryId: string } }, registryId?: string) => registryId ?? caller.workspace.registryId;
  return {
    async SetRepositoryPolicy(input, caller) {
      const request = parseInput(z.object({ ...target, policyText, force: z.boolean().optional() }).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'admin');
      await policies.setRepositoryPolicy(repository, request.policyText);
      return { registryId: registryIdOf(caller, request.registryId), repositoryName: repository.name, policyText: request.policyText };
    },

    async GetRepositoryPolicy(input, caller) {
      const request = parseInput(z.object(target).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'read');
      return { registryId: registryIdOf(caller, request.registryId), repositoryName: repository.name, policyText: policies.repositoryPolicy(repository) };
    },

    async DeleteRepositoryPolicy(input, caller) {
      const request = parseInput(z.object(target).strict(), input);
      const repository = await scope.repository(caller, request.registryId, request.repositoryName, 'admin');
      return { registryId: registryIdOf(caller, request.registryId), repositoryName: repository.name, policyText: await policies.deleteRepositoryPolicy(repository) };
    },

    async PutRegistryPolicy(input, caller) {
      const request = parseInput(z.object({ policyText }).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'admin');
      await policies.putRegistryPolicy(workspace, request.policyText);
      return { registryId: workspace.registryId, policyText: request.policyText };
    },

    async GetRegistryPolicy(input, caller) {
      parseInput(z.object({}).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'read');
      return { registryId: workspace.registryId, policyText: await policies.registryPolicy(workspace) };
    },

    async DeleteRegistryPolicy(input, caller) {
      parseInput(z.object({}).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'admin');
      return { registryId: workspace.registryId, policyText: await policies.deleteRegistryPolicy(workspace) };
    },
  };
}
