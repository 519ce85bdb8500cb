import { z } from 'zod';
import type { Workspace } from '../../../identity/identity-store.ts';
import type { CreationTemplate, CreationTemplates } from '../../management/creation-templates.ts';
import type { Credentials } from '../../management/credentials.ts';
import type { CacheRule, CacheRules } from '../../pullthrough/cache-rules.ts';
import { EcrError } from '../ecr-errors.ts';
import { epochSeconds, maxResultsSchema, nextTokenSchema, page, parseInput, registryIdSchema, type EcrCaller, type EcrOperations, type EcrScope } from '../operation-kit.ts';

const secretPrefix = 'ecr-pullthroughcache/';
const prefixSchema = z.string().min(2).max(30);
const credentialArnSchema = z.string().regex(/^arn:aws:secretsmanager:[a-zA-Z0-9-:]+:secret:ecr-pullthroughcache\/[a-zA-Z0-9/_+=.@-]+$/, 'must be the ARN of an ecr-pullthroughcache/ secret').max(612);
const appliedForSchema = z.array(z.enum(['PULL_THROUGH_CACHE', 'REPLICATION', 'CREATE_ON_PUSH'])).min(1);
const templateFields = {
  description: z.string().max(256).optional(),
  encryptionConfiguration: z.object({ encryptionType: z.enum(['AES256', 'KMS']), kmsKey: z.string().optional() }).strict().optional(),
  resourceTags: z.array(z.object({ Key: z.string().min(1).max(128), Value: z.string().max(256) }).strict()).max(50).optional(),
  imageTagMutability: z.enum(['MUTABLE', 'IMMUTABLE']).optional(),
  repositoryPolicy: z.string().max(10_240).optional(),
  lifecyclePolicy: z.string().max(30_720).optional(),
  customRoleArn: z.string().max(2048).optional(),
};

/** Checks that an upstream answers with the rule's credential; Berth's ValidatePullThroughCacheRule. */
export type UpstreamCheck = (rule: CacheRule) => Promise<{ isValid: true } | { isValid: false; failure: string }>;

/** Pull-through cache rules and repository creation templates, as the ECR API names them. */
export function pullThroughOperations(scope: EcrScope, rules: CacheRules, credentials: Credentials, templates: CreationTemplates, check: UpstreamCheck): EcrOperations {
  const credentialArn = (caller: EcrCaller, workspace: Workspace, name: string | null) =>
    name ? { credentialArn: `arn:aws:secretsmanager:${caller.region}:${workspace.registryId}:secret:${name}` } : {};
  const credentialName = async (workspace: Workspace, arn: string | undefined): Promise<string | undefined> => {
    if (arn === undefined) return undefined;
    const name = arn.slice(arn.indexOf(':secret:') + ':secret:'.length);
    // Secrets Manager ARNs end in a random 6-character suffix; accept the name with or without it.
    for (const candidate of [name, name.replace(/-[A-Za-z0-9]{6}$/, '')]) {
      if (candidate.startsWith(secretPrefix) && (await credentials.exists(workspace.id, candidate))) return candidate;
    }
    throw new EcrError('SecretNotFoundException', `The credential '${name}' does not exist in the registry with id '${workspace.registryId}': create it with berth registry cache-rules create --username …`);
  };
  const describe = (caller: EcrCaller, workspace: Workspace, rule: CacheRule) => ({
    ecrRepositoryPrefix: rule.prefix,
    upstreamRegistryUrl: rule.upstreamRegistryUrl,
    createdAt: epochSeconds(rule.createdAt),
    updatedAt: epochSeconds(rule.updatedAt),
    registryId: workspace.registryId,
    ...(rule.upstreamRegistry === 'generic' ? {} : { upstreamRegistry: rule.upstreamRegistry }),
    ...(rule.upstreamPrefix ? { upstreamRepositoryPrefix: rule.upstreamPrefix } : {}),
    ...credentialArn(caller, workspace, rule.credentialName),
  });
  const describeTemplate = (template: CreationTemplate) => ({ ...template, createdAt: epochSeconds(template.createdAt), updatedAt: epochSeconds(template.updatedAt) });

  return {
    async CreatePullThroughCacheRule(input, caller) {
      const request = parseInput(
        z
          .object({
            ecrRepositoryPrefix: prefixSchema,
            upstreamRegistryUrl: z.string().min(1).max(512),
            registryId: registryIdSchema,
            upstreamRegistry: z.string().optional(),
            credentialArn: credentialArnSchema.optional(),
            customRoleArn: z.string().optional(),
            upstreamRepositoryPrefix: z.string().min(2).max(30).optional(),
          })
          .strict(),
        input,
      );
      const workspace = await scope.workspace(caller, request.registryId, 'admin');
      const rule = await rules.create(workspace, {
        prefix: request.ecrRepositoryPrefix,
        upstreamRegistryUrl: request.upstreamRegistryUrl,
        upstreamRegistry: request.upstreamRegistry,
        upstreamPrefix: request.upstreamRepositoryPrefix,
        credentialName: await credentialName(workspace, request.credentialArn),
      });
      return describe(caller, workspace, rule);
    },

    async DescribePullThroughCacheRules(input, caller) {
      const request = parseInput(
        z.object({ registryId: registryIdSchema, ecrRepositoryPrefixes: z.array(prefixSchema).min(1).max(100).optional(), maxResults: maxResultsSchema(1000), nextToken: nextTokenSchema }).strict(),
        input,
      );
      const workspace = await scope.workspace(caller, request.registryId, 'read');
      const found = request.ecrRepositoryPrefixes
        ? await Promise.all(request.ecrRepositoryPrefixes.map((prefix) => rules.get(workspace, prefix)))
        : await rules.list(workspace);
      const paged = page(found, request.maxResults, request.nextToken);
      return { pullThroughCacheRules: paged.items.map((rule) => describe(caller, workspace, rule)), ...(paged.nextToken ? { nextToken: paged.nextToken } : {}) };
    },

    async UpdatePullThroughCacheRule(input, caller) {
      const request = parseInput(z.object({ ecrRepositoryPrefix: prefixSchema, credentialArn: credentialArnSchema, registryId: registryIdSchema }).strict(), input);
      const workspace = await scope.workspace(caller, request.registryId, 'admin');
      const rule = await rules.update(workspace, request.ecrRepositoryPrefix, (await credentialName(workspace, request.credentialArn)) ?? null);
      return { ecrRepositoryPrefix: rule.prefix, registryId: workspace.registryId, updatedAt: epochSeconds(rule.updatedAt), ...credentialArn(caller, workspace, rule.credentialName) };
    },

    async DeletePullThroughCacheRule(input, caller) {
      const request = parseInput(z.object({ ecrRepositoryPrefix: prefixSchema, registryId: registryIdSchema }).strict(), input);
      const workspace = await scope.workspace(caller, request.registryId, 'admin');
      return describe(caller, workspace, await rules.delete(workspace, request.ecrRepositoryPrefix));
    },

    async ValidatePullThroughCacheRule(input, caller) {
      const request = parseInput(z.object({ ecrRepositoryPrefix: prefixSchema, registryId: registryIdSchema }).strict(), input);
      const workspace = await scope.workspace(caller, request.registryId, 'read');
      const rule = await rules.get(workspace, request.ecrRepositoryPrefix);
      const result = await check(rule);
      return {
        ecrRepositoryPrefix: rule.prefix,
        registryId: workspace.registryId,
        upstreamRegistryUrl: rule.upstreamRegistryUrl,
        ...credentialArn(caller, workspace, rule.credentialName),
        isValid: result.isValid,
        ...(result.isValid ? {} : { failure: result.failure }),
      };
    },

    async CreateRepositoryCreationTemplate(input, caller) {
      const request = parseInput(z.object({ prefix: z.string().min(1).max(256), appliedFor: appliedForSchema, ...templateFields }).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'admin');
      const { prefix, ...definition } = request;
      return { registryId: workspace.registryId, repositoryCreationTemplate: describeTemplate(await templates.create(workspace, prefix, definition)) };
    },

    async UpdateRepositoryCreationTemplate(input, caller) {
      const request = parseInput(z.object({ prefix: z.string().min(1).max(256), appliedFor: appliedForSchema.optional(), ...templateFields }).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'admin');
      const { prefix, ...changes } = request;
      const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
      return { registryId: workspace.registryId, repositoryCreationTemplate: describeTemplate(await templates.update(workspace, prefix, defined)) };
    },

    async DescribeRepositoryCreationTemplates(input, caller) {
      const request = parseInput(z.object({ prefixes: z.array(z.string()).min(1).max(100).optional(), maxResults: maxResultsSchema(1000), nextToken: nextTokenSchema }).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'read');
      const found = request.prefixes ? await Promise.all(request.prefixes.map((prefix) => templates.get(workspace, prefix))) : await templates.list(workspace);
      const paged = page(found, request.maxResults, request.nextToken);
      return { registryId: workspace.registryId, repositoryCreationTemplates: paged.items.map(describeTemplate), ...(paged.nextToken ? { nextToken: paged.nextToken } : {}) };
    },

    async DeleteRepositoryCreationTemplate(input, caller) {
      const request = parseInput(z.object({ prefix: z.string().min(1).max(256) }).strict(), input);
      const workspace = await scope.workspace(caller, undefined, 'admin');
      return { registryId: workspace.registryId, repositoryCreationTemplate: describeTemplate(await templates.delete(workspace, request.prefix)) };
    },
  };
}
