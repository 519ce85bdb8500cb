import { BatchGetImageCommand, DescribeImagesCommand, DescribeRepositoriesCommand, type ECRClient, type ImageDetail, type ImageIdentifier, type PullThroughCacheRule } from '@aws-sdk/client-ecr';
import { z } from 'zod';
import { UpstreamNotFound, UpstreamUnauthorized } from '../../registry/pullthrough/upstream-errors.ts';
import { UpstreamRegistry } from '../../registry/pullthrough/upstream-registry.ts';
import { ToolboxError, type ToolboxContext, type ToolboxOperation } from '../toolbox-operation.ts';
import { allPullThroughCacheRules, ecrCall, isEcrError, ruleFor, targetFields, toToolboxError, upstreamImageOf } from './ecr-support.ts';
import { repositoryPolicyOf } from './grant-access.ts';
import { summariseStatements, type StatementSummary } from './policy-statements.ts';
import { registryLocation, type RegistryLocation } from './registry-location.ts';

export const checkAvailabilityInput = z.object({
  repositoryName: z.string().min(2).max(256).describe('Repository, relative to the registry (Berth: the workspace), e.g. `hub/library/ubuntu` or `tools/samtools`.'),
  imageTag: z.string().min(1).max(128).default('latest').describe('Tag to check (default `latest`).'),
  imageDigest: z.string().regex(/^sha(256|512):[a-f0-9]+$/).optional().describe('Digest (`sha256:…`) instead of the tag.'),
  pullThrough: z
    .boolean()
    .default(false)
    .describe('When the image is missing and a pull-through cache rule covers it, fetch it through the registry now (manifests and layers of every platform).'),
  ...targetFields,
});

const manifestTypes = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];
const indexTypes = new Set(manifestTypes.slice(0, 2));

export interface PlatformView {
  os: string;
  architecture: string;
  variant?: string;
  /** The platform's own manifest (for an index). */
  digest?: string;
  size?: number;
}

export interface CheckResult {
  repositoryName: string;
  /** The tag or digest checked. */
  reference: string;
  /** Where clients pull it from: `HOST/WORKSPACE/REPO:TAG` (Berth) or `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG`. */
  imageUri?: string;
  available: boolean;
  repositoryExists: boolean;
  registryId?: string;
  /** The pull-through cache rule covering the repository, and the upstream image it maps to. */
  pullThroughRule?: { ecrRepositoryPrefix: string; upstreamRegistryUrl: string; upstreamImage: string; credentialArn?: string };
  /** Whether this call fetched the image through the cache. */
  pulledThrough: boolean;
  digest?: string;
  mediaType?: string;
  sizeInBytes?: number;
  tags?: string[];
  pushedAt?: string;
  platforms?: PlatformView[];
  /** Who may pull: workspace members (Berth) or the account's IAM identities, and the repository policy's statements. */
  whoCanPull?: { owners: string; statements: StatementSummary[] };
  message: string;
}

type Lookup = { image: ImageDetail } | { missing: 'repository' | 'image' };

async function lookUp(client: ECRClient, repositoryName: string, imageId: ImageIdentifier): Promise<Lookup> {
  try {
    const answer = await client.send(new DescribeImagesCommand({ repositoryName, imageIds: [imageId] }));
    const image = answer.imageDetails?.[0];
    return image ? { image } : { missing: 'image' };
  } catch (error) {
    if (isEcrError(error, 'RepositoryNotFoundException')) return { missing: 'repository' };
    if (isEcrError(error, 'ImageNotFoundException')) return { missing: 'image' };
    throw toToolboxError(error, `looking up ${repositoryName} (DescribeImages)`);
  }
}

/**
 * The repository's path on the registry's OCI side: its name on Amazon ECR, `<workspace>/<name>` on Berth.
 * Berth's workspace is the target's, or read from the repositoryUri of a repository in the registry.
 */
async function ociPath(client: ECRClient, location: RegistryLocation, repositoryName: string, workspace: string | undefined): Promise<string> {
  if (location.amazon) return repositoryName;
  if (workspace) return `${workspace}/${repositoryName}`;
  const answer = await ecrCall('reading the registry (DescribeRepositories)', () => client.send(new DescribeRepositoriesCommand({ maxResults: 1 })));
  const known = answer.repositories?.[0];
  const uri = known?.repositoryUri ?? '';
  const path = uri.slice(uri.indexOf('/') + 1);
  if (!known?.repositoryName || !path.endsWith(`/${known.repositoryName}`)) {
    throw new ToolboxError('INVALID_INPUT', 'name the workspace (workspace) whose registry holds the image: the registry has no repository to learn it from');
  }
  return `${path.slice(0, -known.repositoryName.length - 1)}/${repositoryName}`;
}

/**
 * Fetches an image through the registry's OCI API, which is what makes a pull-through cache fill: the
 * manifest (for an index, every platform's manifest too) and every blob, read and dropped.
 */
async function fetchThrough(location: RegistryLocation, path: string, reference: string, context: ToolboxContext): Promise<void> {
  const registry = new UpstreamRegistry({ url: location.endpoint, credentials: location.login, userAgent: 'berth-toolbox-check' });
  context.progress({ kind: 'step', message: `fetching ${location.host}/${path}:${reference} through the pull-through cache` });
  const top = await registry.getManifest(path, reference, manifestTypes);
  if (!top) throw new ToolboxError('NOT_FOUND', `the upstream has no ${reference} for ${path}: check the name and tag upstream`);
  const manifests = [top];
  const document = JSON.parse(top.bytes.toString('utf8')) as { manifests?: Array<{ digest: string }> };
  if (indexTypes.has(top.mediaType)) {
    for (const child of document.manifests ?? []) {
      const fetched = await registry.getManifest(path, child.digest, manifestTypes);
      if (fetched) manifests.push(fetched);
    }
  }
  for (const manifest of manifests) {
    const image = JSON.parse(manifest.bytes.toString('utf8')) as { config?: { digest: string; size: number }; layers?: Array<{ digest: string; size: number }> };
    for (const blob of [...(image.config ? [image.config] : []), ...(image.layers ?? [])]) await drainBlob(registry, path, blob, context);
  }
}

async function drainBlob(registry: UpstreamRegistry, path: string, blob: { digest: string; size: number }, context: ToolboxContext): Promise<void> {
  const report = (doneBytes: number, state: 'copying' | 'done') => context.progress({ kind: 'transfer', id: blob.digest, label: blob.digest.slice(0, 19), totalBytes: blob.size, doneBytes, state });
  const fetched = await registry.getBlob(path, blob.digest, context.signal);
  let done = 0;
  for await (const chunk of fetched.body) {
    done += chunk.length;
    report(done, 'copying');
  }
  report(done, 'done');
}

/** Platforms from the image index; for a single image, from its config when the OCI side is reachable. */
async function platformsOf(client: ECRClient, repositoryName: string, digest: string, oci: (() => Promise<{ registry: UpstreamRegistry; path: string }>) | undefined): Promise<PlatformView[]> {
  const answer = await ecrCall(`reading the manifest of ${repositoryName} (BatchGetImage)`, () =>
    client.send(new BatchGetImageCommand({ repositoryName, imageIds: [{ imageDigest: digest }], acceptedMediaTypes: manifestTypes })),
  );
  const manifest = answer.images?.[0]?.imageManifest;
  if (!manifest) return [];
  const document = JSON.parse(manifest) as {
    manifests?: Array<{ digest: string; size: number; platform?: { os: string; architecture: string; variant?: string } }>;
    config?: { digest: string };
  };
  if (document.manifests) {
    return document.manifests
      .filter((entry) => entry.platform && entry.platform.os !== 'unknown')
      .map((entry) => ({ os: entry.platform!.os, architecture: entry.platform!.architecture, ...(entry.platform!.variant ? { variant: entry.platform!.variant } : {}), digest: entry.digest, size: entry.size }));
  }
  if (!document.config || !oci) return [];
  try {
    const { registry, path } = await oci();
    const blob = await registry.getBlob(path, document.config.digest);
    const chunks: Buffer[] = [];
    for await (const chunk of blob.body) chunks.push(Buffer.from(chunk));
    const config = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { os?: string; architecture?: string; variant?: string };
    return config.os && config.architecture ? [{ os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) }] : [];
  } catch {
    // The platform is a nicety: an image whose config cannot be read is still available.
    return [];
  }
}

async function whoCanPull(client: ECRClient, repositoryName: string, registryId: string | undefined, location: RegistryLocation | undefined, ociRepository: string | undefined): Promise<CheckResult['whoCanPull']> {
  const { policy } = await repositoryPolicyOf(client, repositoryName);
  const workspace = ociRepository && !location?.amazon ? ociRepository.slice(0, ociRepository.length - repositoryName.length - 1) : undefined;
  const owners = location?.amazon
    ? `IAM identities of account ${registryId ?? '?'} whose IAM policies allow ecr:BatchGetImage, ecr:GetDownloadUrlForLayer, ecr:BatchCheckLayerAvailability`
    : `members of workspace ${workspace ?? '(this registry)'} with the view role or higher`;
  return { owners, statements: summariseStatements(policy) };
}

export async function checkAvailability(input: z.infer<typeof checkAvailabilityInput>, context: ToolboxContext): Promise<CheckResult> {
  const client = context.ecrClient({ workspace: input.workspace, region: input.region });
  const { repositoryName } = input;
  const reference = input.imageDigest ?? input.imageTag;
  const imageId: ImageIdentifier = input.imageDigest ? { imageDigest: input.imageDigest } : { imageTag: input.imageTag };
  let found = await lookUp(client, repositoryName, imageId);
  let rules: PullThroughCacheRule[] = [];
  try {
    rules = await allPullThroughCacheRules(client);
  } catch (error) {
    // Someone granted pulls by a repository policy may not read the rules; the check goes on without them.
    if (!(error instanceof ToolboxError && error.code === 'DENIED')) throw error;
  }
  const rule = ruleFor(repositoryName, rules);
  const pullThroughRule = rule && {
    ecrRepositoryPrefix: rule.ecrRepositoryPrefix ?? '',
    upstreamRegistryUrl: rule.upstreamRegistryUrl ?? '',
    upstreamImage: `${upstreamImageOf(rule, repositoryName)}${input.imageDigest ? `@${reference}` : `:${reference}`}`,
    ...(rule.credentialArn ? { credentialArn: rule.credentialArn } : {}),
  };

  let location: RegistryLocation | undefined;
  let path: string | undefined;
  const oci = async () => {
    location ??= await registryLocation(client);
    path ??= await ociPath(client, location, repositoryName, input.workspace);
    return { location, path };
  };
  let pulledThrough = false;
  if ('missing' in found && input.pullThrough && rule) {
    const at = await oci();
    try {
      await fetchThrough(at.location, at.path, reference, context);
    } catch (error) {
      if (error instanceof ToolboxError) throw error;
      const fix = 'check the rule and its credential (berth ecr validate)';
      if (error instanceof UpstreamUnauthorized) throw new ToolboxError('DENIED', `the registry refused to fetch ${at.path}:${reference}: ${error.message}; ${fix}`);
      if (error instanceof UpstreamNotFound) throw new ToolboxError('NOT_FOUND', `${at.path}:${reference} could not be fetched: ${error.message}; ${fix}`);
      throw new ToolboxError('UNREACHABLE', `fetching ${at.path}:${reference} through the cache failed: ${(error as Error).message}; check the rule (berth ecr validate)`, {
        upstreamImage: pullThroughRule?.upstreamImage,
      });
    }
    pulledThrough = true;
    found = await lookUp(client, repositoryName, imageId);
  }

  if ('missing' in found) {
    const where = found.missing === 'repository' ? `no repository ${repositoryName}` : `no image ${repositoryName}:${reference}`;
    const message = pullThroughRule
      ? `${where} yet; the pull-through cache rule ${pullThroughRule.ecrRepositoryPrefix} serves it from ${pullThroughRule.upstreamImage} on first pull (check it with pullThrough to fetch it now)`
      : `${where}, and no pull-through cache rule covers it`;
    return { repositoryName, reference, available: false, repositoryExists: found.missing === 'image', ...(pullThroughRule ? { pullThroughRule } : {}), pulledThrough, message };
  }

  const image = found.image;
  const digest = image.imageDigest ?? '';
  const ociAccess = async () => {
    const at = await oci();
    return { registry: new UpstreamRegistry({ url: at.location.endpoint, credentials: at.location.login, userAgent: 'berth-toolbox-check' }), path: at.path };
  };
  const platforms = await platformsOf(client, repositoryName, digest, ociAccess);
  // Only for the image's URI and the workspace named in whoCanPull: an image whose OCI side is unknown is still available.
  await oci().catch(() => undefined);
  const registryId = image.registryId;
  const imageUri = location && path ? `${location.host}/${path}${input.imageDigest ? `@${digest}` : `:${reference}`}` : undefined;
  return {
    repositoryName,
    reference,
    ...(imageUri ? { imageUri } : {}),
    available: true,
    repositoryExists: true,
    ...(registryId ? { registryId } : {}),
    ...(pullThroughRule ? { pullThroughRule } : {}),
    pulledThrough,
    digest,
    ...(image.imageManifestMediaType ? { mediaType: image.imageManifestMediaType } : {}),
    ...(image.imageSizeInBytes !== undefined ? { sizeInBytes: image.imageSizeInBytes } : {}),
    ...(image.imageTags ? { tags: image.imageTags } : {}),
    ...(image.imagePushedAt ? { pushedAt: image.imagePushedAt.toISOString() } : {}),
    platforms,
    whoCanPull: await whoCanPull(client, repositoryName, registryId, location, path),
    message: `${repositoryName}:${reference} is available (${digest})${pulledThrough ? ', fetched through the pull-through cache now' : ''}`,
  };
}

export const checkAvailabilityOperation: ToolboxOperation<typeof checkAvailabilityInput, CheckResult> = {
  name: 'checkAvailability',
  mcpTool: 'CheckContainerAvailability',
  apiPath: 'check',
  summary:
    'Says whether an image is in the registry (or which pull-through cache rule would serve it), its digest, size and platforms, and who can pull it; with pullThrough, fetches a missing image through its pull-through cache now.',
  input: checkAvailabilityInput,
  run: checkAvailability,
};
