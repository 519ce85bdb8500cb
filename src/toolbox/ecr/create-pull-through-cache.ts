import { CreatePullThroughCacheRuleCommand, DescribePullThroughCacheRulesCommand, type ECRClient, type PullThroughCacheRule } from '@aws-sdk/client-ecr';
import { z } from 'zod';
import { ToolboxError, type ToolboxContext, type ToolboxOperation } from '../toolbox-operation.ts';
import { defaultPrefixFor, ecrCall, isEcrError, targetFields, toToolboxError, upstreamPresets } from './ecr-support.ts';
import { grantServiceOnPrefix, servicePrincipalField, type PrefixGrant } from './grant-healthomics.ts';

export const createPullThroughCacheInput = z.object({
  upstream: z
    .string()
    .min(1)
    .max(512)
    .describe('The upstream: docker-hub, quay, ecr-public, ghcr (github-container-registry), k8s, gitlab, or any registry host or URL (`https://host`, `http://host:port`).'),
  ecrRepositoryPrefix: z
    .string()
    .min(2)
    .max(30)
    .optional()
    .describe('Repository prefix that caches the upstream (`<prefix>/<upstream path>`); default the preset name, e.g. `docker-hub`. Required for a URL.'),
  credentialArn: z.string().max(612).optional().describe('ARN of the `ecr-pullthroughcache/<name>` secret holding the upstream login (Docker Hub on AWS needs one).'),
  upstreamRegistry: z.string().max(64).optional().describe("ECR's upstream kind (docker-hub, quay, …); default from the preset."),
  upstreamRepositoryPrefix: z.string().min(2).max(30).optional().describe('Upstream namespace the prefix maps to (ECR upstreamRepositoryPrefix).'),
  healthOmicsAccess: z
    .boolean()
    .default(false)
    .describe('Also let the service use the cache, as AWS HealthOmics needs: registry policy (CreateRepository, BatchImportUpstreamImage) and a PULL_THROUGH_CACHE creation template whose policy lets it pull.'),
  servicePrincipal: servicePrincipalField,
  ...targetFields,
});

export interface RuleView {
  ecrRepositoryPrefix: string;
  upstreamRegistryUrl: string;
  upstreamRegistry?: string;
  upstreamRepositoryPrefix?: string;
  credentialArn?: string;
  registryId?: string;
  createdAt?: string;
  updatedAt?: string;
}

export interface CreatePullThroughCacheResult {
  /** False when a rule for the prefix with the same upstream already existed (then only permissions were set). */
  created: boolean;
  rule: RuleView;
  /** Present when healthOmicsAccess was asked for. */
  serviceAccess?: PrefixGrant & { servicePrincipal: string };
  message: string;
}

export function ruleView(rule: PullThroughCacheRule): RuleView {
  return {
    ecrRepositoryPrefix: rule.ecrRepositoryPrefix ?? '',
    upstreamRegistryUrl: rule.upstreamRegistryUrl ?? '',
    ...(rule.upstreamRegistry ? { upstreamRegistry: rule.upstreamRegistry } : {}),
    ...(rule.upstreamRepositoryPrefix ? { upstreamRepositoryPrefix: rule.upstreamRepositoryPrefix } : {}),
    ...(rule.credentialArn ? { credentialArn: rule.credentialArn } : {}),
    ...(rule.registryId ? { registryId: rule.registryId } : {}),
    ...(rule.createdAt ? { createdAt: rule.createdAt.toISOString() } : {}),
    ...(rule.updatedAt ? { updatedAt: rule.updatedAt.toISOString() } : {}),
  };
}

/** The rule for `prefix`, created; or the existing one when it caches the same upstream (CONFLICT when another). */
async function createOrReuse(client: ECRClient, request: { prefix: string; url: string; upstreamRegistry?: string; credentialArn?: string; upstreamRepositoryPrefix?: string }): Promise<{ rule: RuleView; created: boolean }> {
  try {
    const created = await client.send(
      new CreatePullThroughCacheRuleCommand({
        ecrRepositoryPrefix: request.prefix,
        upstreamRegistryUrl: request.url,
        ...(request.upstreamRegistry ? { upstreamRegistry: request.upstreamRegistry as never } : {}),
        ...(request.credentialArn ? { credentialArn: request.credentialArn } : {}),
        ...(request.upstreamRepositoryPrefix ? { upstreamRepositoryPrefix: request.upstreamRepositoryPrefix } : {}),
      }),
    );
    return { rule: ruleView(created), created: true };
  } catch (error) {
    if (!isEcrError(error, 'PullThroughCacheRuleAlreadyExistsException')) throw toToolboxError(error, `creating the pull-through cache rule ${request.prefix} (CreatePullThroughCacheRule)`);
  }
  const existing = await ecrCall(`reading the pull-through cache rule ${request.prefix}`, () => client.send(new DescribePullThroughCacheRulesCommand({ ecrRepositoryPrefixes: [request.prefix] })));
  const rule = ruleView(existing.pullThroughCacheRules?.[0] ?? {});
  const sameHost = (url: string) => url.replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
  if (sameHost(rule.upstreamRegistryUrl) !== sameHost(request.url)) {
    throw new ToolboxError(
      'CONFLICT',
      `the prefix ${request.prefix} already caches ${rule.upstreamRegistryUrl}, not ${request.url}: choose another prefix, or delete the rule first (berth registry cache-rules delete ${request.prefix})`,
      { ecrError: 'PullThroughCacheRuleAlreadyExistsException', rule },
    );
  }
  return { rule, created: false };
}

export async function createPullThroughCache(input: z.infer<typeof createPullThroughCacheInput>, context: ToolboxContext): Promise<CreatePullThroughCacheResult> {
  const preset = upstreamPresets[input.upstream.toLowerCase()];
  const prefix = input.ecrRepositoryPrefix ?? defaultPrefixFor(input.upstream);
  if (!prefix) throw new ToolboxError('INVALID_INPUT', `give ecrRepositoryPrefix: "${input.upstream.slice(0, 100)}" is not a preset with a default prefix`);
  const client = context.ecrClient({ workspace: input.workspace, region: input.region });
  const { rule, created } = await createOrReuse(client, {
    prefix,
    url: preset?.url ?? input.upstream,
    upstreamRegistry: input.upstreamRegistry ?? preset?.upstreamRegistry,
    credentialArn: input.credentialArn,
    upstreamRepositoryPrefix: input.upstreamRepositoryPrefix,
  });
  context.progress({ kind: 'step', message: `${created ? 'created' : 'kept'} the pull-through cache rule ${prefix} → ${rule.upstreamRegistryUrl}` });
  let serviceAccess: CreatePullThroughCacheResult['serviceAccess'];
  if (input.healthOmicsAccess) {
    serviceAccess = { ...(await grantServiceOnPrefix(client, prefix, input.servicePrincipal)), servicePrincipal: input.servicePrincipal };
    context.progress({ kind: 'step', message: `${input.servicePrincipal} may use ${prefix}/` });
  }
  const message =
    `${created ? 'Created' : 'Kept the existing'} pull-through cache rule: pulls of ${prefix}/<name> come from ${rule.upstreamRegistryUrl}/<name>.` +
    (serviceAccess ? ` ${input.servicePrincipal} may create, fill and pull its repositories.` : '');
  return { created, rule, ...(serviceAccess ? { serviceAccess } : {}), message };
}

export const createPullThroughCacheOperation: ToolboxOperation<typeof createPullThroughCacheInput, CreatePullThroughCacheResult> = {
  name: 'createPullThroughCache',
  mcpTool: 'CreateECRPullThroughCache',
  apiPath: 'pull-through-caches',
  summary:
    'Creates an ECR pull-through cache rule for an upstream registry (Docker Hub, Quay, ECR Public, GHCR, k8s, GitLab or any registry URL) and, with healthOmicsAccess, the registry policy and repository creation template that let AWS HealthOmics use it. An existing rule for the same upstream is kept.',
  input: createPullThroughCacheInput,
  run: createPullThroughCache,
};
