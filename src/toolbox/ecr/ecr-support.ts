import {
  DescribeRegistryCommand,
  ECRServiceException,
  paginateDescribePullThroughCacheRules,
  paginateDescribeRepositoryCreationTemplates,
  type ECRClient,
  type PullThroughCacheRule,
  type RepositoryCreationTemplate,
} from '@aws-sdk/client-ecr';
import { z } from 'zod';
import { upstreamPresets as registryUpstreams, type UpstreamKind } from '../../registry/pullthrough/cache-rules.ts';
import { ToolboxError, type ToolboxErrorCode } from '../toolbox-operation.ts';

/** The fields every ECR operation takes to choose its registry: a Berth workspace, or an AWS region. */
export const targetFields = {
  workspace: z.string().min(1).max(64).optional().describe("Berth workspace (ECR registry) to act in; default the caller's own. Ignored for Amazon ECR."),
  region: z.string().min(1).max(32).optional().describe('AWS region of the registry (Amazon ECR); Berth answers in its configured region.'),
};

/** Where to read the fix for an ECR exception the user can act on. */
const remedies: Record<string, { code: ToolboxErrorCode; fix: string }> = {
  RepositoryNotFoundException: { code: 'NOT_FOUND', fix: 'check the repository name and the workspace/registry (repository names are relative to the registry)' },
  ImageNotFoundException: { code: 'NOT_FOUND', fix: 'check the tag or digest' },
  PullThroughCacheRuleNotFoundException: { code: 'NOT_FOUND', fix: 'list the rules with `berth ecr pull-through list`' },
  TemplateNotFoundException: { code: 'NOT_FOUND', fix: 'list the templates with DescribeRepositoryCreationTemplates' },
  AccessDeniedException: { code: 'DENIED', fix: 'ask an admin of the workspace (or the AWS account) for the role or IAM permission named' },
  UnrecognizedClientException: { code: 'UNAUTHORIZED', fix: 'check the API token or access key' },
  InvalidSignatureException: { code: 'UNAUTHORIZED', fix: 'check the secret access key and the clock' },
  IncompleteSignatureException: { code: 'UNAUTHORIZED', fix: 'check the credentials the client signs with' },
  MissingAuthenticationTokenException: { code: 'UNAUTHORIZED', fix: 'give credentials (an API token, or AWS credentials)' },
  ExpiredTokenException: { code: 'UNAUTHORIZED', fix: 'refresh the AWS session credentials' },
  InvalidParameterException: { code: 'INVALID_INPUT', fix: 'correct the parameter the message names' },
  ValidationException: { code: 'INVALID_INPUT', fix: 'correct the request as the message says' },
  SecretNotFoundException: { code: 'INVALID_INPUT', fix: 'store the upstream credential first (ecr-pullthroughcache/<name>), then name its ARN' },
  UnsupportedUpstreamRegistryException: { code: 'INVALID_INPUT', fix: 'use a supported upstream (docker-hub, quay, ecr-public, ghcr, k8s, gitlab, or a registry URL)' },
  PullThroughCacheRuleAlreadyExistsException: { code: 'CONFLICT', fix: 'choose another prefix or delete the existing rule' },
  TemplateAlreadyExistsException: { code: 'CONFLICT', fix: 'update the existing template instead' },
  RepositoryAlreadyExistsException: { code: 'CONFLICT', fix: 'use the existing repository' },
  LimitExceededException: { code: 'FAILED', fix: 'delete unused rules or ask AWS for a higher quota' },
};

/** The ECR exception's name when `error` is one (`RepositoryNotFoundException`, …). */
export function ecrErrorName(error: unknown): string | undefined {
  return error instanceof ECRServiceException ? error.name : undefined;
}

export function isEcrError(error: unknown, ...names: string[]): boolean {
  const name = ecrErrorName(error);
  return name !== undefined && names.includes(name);
}

/**
 * Turns what an ECR call threw into a ToolboxError that names the ECR exception and what to do:
 * `doing` says what we were doing ("reading the policy of tools/x").
 */
export function toToolboxError(error: unknown, doing: string): unknown {
  if (error instanceof ToolboxError) return error;
  const name = ecrErrorName(error);
  if (name) {
    const remedy = remedies[name] ?? { code: 'FAILED' as const, fix: 'see the message' };
    const message = (error as Error).message;
    return new ToolboxError(remedy.code, `${doing}: ${name}: ${message} (${remedy.fix})`, { ecrError: name, fix: remedy.fix });
  }
  const cause = (error as { cause?: { code?: string } })?.cause?.code ?? (error as { code?: string })?.code;
  if (cause && /^(ECONNREFUSED|ENOTFOUND|ECONNRESET|ETIMEDOUT|EAI_AGAIN|UND_ERR_.*)$/.test(cause)) {
    return new ToolboxError('UNREACHABLE', `${doing}: cannot reach the ECR endpoint (${cause}); check the URL or endpoint and that the registry is up`, { cause });
  }
  if (error instanceof Error && /CredentialsProviderError|Could not load credentials/i.test(`${error.name} ${error.message}`)) {
    return new ToolboxError('UNAUTHORIZED', `${doing}: no AWS credentials: ${error.message}`, { fix: 'set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY' });
  }
  return error;
}

/** Runs one ECR call; failures become ToolboxErrors that say what we were doing. */
export async function ecrCall<T>(doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toToolboxError(error, doing);
  }
}

/** The call's result, or undefined when it failed with one of `absent` (e.g. RepositoryPolicyNotFoundException). */
export async function ecrCallOrAbsent<T>(doing: string, absent: string[], call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isEcrError(error, ...absent)) return undefined;
    throw toToolboxError(error, doing);
  }
}

export async function registryIdOf(client: ECRClient): Promise<string> {
  const answer = await ecrCall('reading the registry id (DescribeRegistry)', () => client.send(new DescribeRegistryCommand({})));
  return answer.registryId ?? '';
}

export function allPullThroughCacheRules(client: ECRClient): Promise<PullThroughCacheRule[]> {
  return allPages('listing pull-through cache rules (DescribePullThroughCacheRules)', paginateDescribePullThroughCacheRules({ client, pageSize: 100 }, {}), (page) => page.pullThroughCacheRules);
}

export function allCreationTemplates(client: ECRClient): Promise<RepositoryCreationTemplate[]> {
  return allPages('listing repository creation templates (DescribeRepositoryCreationTemplates)', paginateDescribeRepositoryCreationTemplates({ client, pageSize: 100 }, {}), (page) => page.repositoryCreationTemplates);
}

/** Every item of a listing, through the SDK's paginator; a failure is a ToolboxError saying what was being listed. */
function allPages<Page, Item>(doing: string, pages: AsyncIterable<Page>, itemsOf: (page: Page) => Item[] | undefined): Promise<Item[]> {
  return ecrCall(doing, async () => {
    const items: Item[] = [];
    for await (const page of pages) items.push(...(itemsOf(page) ?? []));
    return items;
  });
}

/** The rule whose prefix covers a repository name (`hub/library/ubuntu` → rule `hub`), the longest first. */
export function ruleFor(repositoryName: string, rules: readonly PullThroughCacheRule[]): PullThroughCacheRule | undefined {
  return [...rules]
    .filter((rule) => rule.ecrRepositoryPrefix && repositoryName.startsWith(`${rule.ecrRepositoryPrefix}/`))
    .sort((a, b) => (b.ecrRepositoryPrefix?.length ?? 0) - (a.ecrRepositoryPrefix?.length ?? 0))[0];
}

/**
 * The creation template ECR applies to a pull-through repository under `prefix`: the longest template
 * prefix covering it whose appliedFor includes PULL_THROUGH_CACHE, else the `ROOT` template.
 */
export function templateFor(prefix: string, templates: readonly RepositoryCreationTemplate[]): RepositoryCreationTemplate | undefined {
  const applies = templates.filter((t) => t.appliedFor?.includes('PULL_THROUGH_CACHE'));
  const covering = applies
    .filter((t) => t.prefix && t.prefix !== 'ROOT' && (prefix === t.prefix || prefix.startsWith(`${t.prefix}/`)))
    .sort((a, b) => (b.prefix?.length ?? 0) - (a.prefix?.length ?? 0));
  return covering[0] ?? applies.find((t) => t.prefix === 'ROOT');
}

/** Short names people write for an ECR upstream kind, besides the kind itself and its registry host. */
const presetAliases: Record<string, UpstreamKind> = { dockerhub: 'docker-hub', 'docker.io': 'docker-hub', ghcr: 'github-container-registry', gitlab: 'gitlab-container-registry' };

/** ECR's upstream kinds (Berth's own list), by kind, by registry host and by alias: each with its registry host. */
export const upstreamPresets: Record<string, { url: string; upstreamRegistry: string }> = Object.fromEntries(
  Object.entries(registryUpstreams).flatMap(([kind, url]) => {
    const preset = { url: new URL(url).host, upstreamRegistry: kind };
    const aliases = Object.entries(presetAliases).filter(([, aliased]) => aliased === kind).map(([alias]) => alias);
    return [kind, preset.url, ...aliases].map((name) => [name, preset] as const);
  }),
);

/** The prefix ECR's console (and AWS's HealthOmics tools) give a preset's rule by default. */
export function defaultPrefixFor(upstream: string): string | undefined {
  const preset = upstreamPresets[upstream.toLowerCase()];
  return preset?.upstreamRegistry;
}

/** `<upstream>/<path>` a cached repository comes from, as ECR maps it (Docker Hub's one-part names get `library/`). */
export function upstreamImageOf(rule: PullThroughCacheRule, repositoryName: string): string {
  const rest = repositoryName.slice((rule.ecrRepositoryPrefix ?? '').length + 1);
  const prefix = rule.upstreamRepositoryPrefix && rule.upstreamRepositoryPrefix !== 'ROOT' ? `${rule.upstreamRepositoryPrefix}/` : '';
  const path = `${prefix}${rest}`;
  const hub = rule.upstreamRegistry === 'docker-hub' || /(^|\/\/)(registry-1\.)?docker\.io$/.test(rule.upstreamRegistryUrl ?? '');
  const upstream = (rule.upstreamRegistryUrl ?? '').replace(/^[a-z]+:\/\//, '').replace(/\/+$/, '');
  return `${upstream}/${hub && !path.includes('/') ? `library/${path}` : path}`;
}
