import { z } from 'zod';
import { manifestAccept, type RegistryClient, type RegistryManifest } from '../../registry/client/registry-client.ts';
import { isDigest } from '../../registry/digest.ts';
import { formatImageReference, formatRepositoryLocation, namesRegistryHost, parseImageReference, type ImageReference } from '../references.ts';
import { ToolboxError, type ToolboxContext } from '../toolbox-operation.ts';
import { copyBlob, type BlobDescriptor, type BlobEnd, type BlobOutcome } from './blob-copy.ts';
import { RegistryAccess, toolboxFailure } from './registry-access.ts';
import type { UploadSessions } from './upload-sessions.ts';

export const cloneInput = z.object({
  source: z.string().min(1).describe('The image to copy, as host/repository:tag or host/repository@sha256:… (docker.io/library and :latest are the defaults); with allTags, a repository'),
  target: z
    .string()
    .min(1)
    .describe('Where it goes, as host/repository[:tag] — the host is required (docker.io for Docker Hub); without a tag the source tag is kept; with allTags, a repository'),
  allTags: z.boolean().optional().describe('Copy every tag of the source repository, not one image'),
  concurrency: z.number().int().min(1).max(16).optional().describe('Blobs copied at the same time (default 4)'),
  insecureRegistries: z
    .array(z.string())
    .optional()
    .describe('Registry hosts spoken to over plain HTTP, like skopeo --tls-verify=false (loopback hosts always are)'),
});
export type CloneInput = z.infer<typeof cloneInput>;

export interface ClonedImage {
  source: string;
  target: string;
  digest: string;
  mediaType: string;
  /** `os/architecture[/variant]` of each image of an index; empty for a plain image. */
  platforms: string[];
  /** Manifests put into the target (children of an index first), and those it had already. */
  manifests: { pushed: number; skipped: number };
}

export interface CloneTotals {
  blobs: { copied: number; skipped: number; mounted: number };
  bytes: { copied: number; skipped: number; mounted: number };
  manifests: { pushed: number; skipped: number };
}

export interface CloneResult {
  source: string;
  target: string;
  images: ClonedImage[];
  blobs: BlobOutcome[];
  totals: CloneTotals;
  durationMs: number;
}

/** What only a face on the user's machine can give (the CLI's state directory), and knobs for tests. */
export interface CloneTuning {
  /** Upload sessions kept across runs, so that an interrupted large blob resumes where it stopped. */
  uploadSessions?: UploadSessions;
  /** Largest PATCH of a chunked upload. Default 16 MiB. */
  chunkBytes?: number;
}

/**
 * Shared by the images of one run (all tags of a repository, every repository of a migration):
 * clients per host, and which target repositories already hold which blobs, for skipping and mounting.
 */
export class CloneSession {
  readonly access: RegistryAccess;
  /** digest → target repositories (of `targetHost`) known to hold it after this run put or found it there. */
  private readonly placed = new Map<string, Set<string>>();
  readonly blobs: BlobOutcome[] = [];
  readonly images: ClonedImage[] = [];
  private readonly startedAt = Date.now();

  constructor(
    readonly context: ToolboxContext,
    readonly options: { concurrency: number; chunkBytes: number; uploadSessions?: UploadSessions; insecureRegistries?: string[] },
  ) {
    this.access = new RegistryAccess(context, options.insecureRegistries);
  }

  holds(host: string, repository: string, digest: string): boolean {
    return this.placed.get(`${host} ${digest}`)?.has(repository) ?? false;
  }

  /** Another target repository of the run that holds the blob: a candidate to mount from. */
  holderOtherThan(host: string, repository: string, digest: string): string | undefined {
    return [...(this.placed.get(`${host} ${digest}`) ?? [])].find((holder) => holder !== repository);
  }

  record(host: string, outcome: BlobOutcome): void {
    const key = `${host} ${outcome.digest}`;
    if (!this.placed.has(key)) this.placed.set(key, new Set());
    this.placed.get(key)!.add(outcome.repository);
    this.blobs.push(outcome);
  }

  result(source: string, target: string): CloneResult {
    const totals: CloneTotals = { blobs: { copied: 0, skipped: 0, mounted: 0 }, bytes: { copied: 0, skipped: 0, mounted: 0 }, manifests: { pushed: 0, skipped: 0 } };
    for (const blob of this.blobs) {
      totals.blobs[blob.action] += 1;
      totals.bytes[blob.action] += blob.size;
    }
    for (const image of this.images) {
      totals.manifests.pushed += image.manifests.pushed;
      totals.manifests.skipped += image.manifests.skipped;
    }
    return { source, target, images: this.images, blobs: this.blobs, totals, durationMs: Date.now() - this.startedAt };
  }
}

const defaultConcurrency = 4;
const defaultChunkBytes = 16 * 1024 * 1024;

export function newCloneSession(context: ToolboxContext, input: Pick<CloneInput, 'concurrency' | 'insecureRegistries'>, tuning: CloneTuning = {}): CloneSession {
  return new CloneSession(context, {
    concurrency: input.concurrency ?? defaultConcurrency,
    chunkBytes: tuning.chunkBytes ?? defaultChunkBytes,
    uploadSessions: tuning.uploadSessions,
    insecureRegistries: input.insecureRegistries,
  });
}

/** Copies one image, or with `allTags` every tag of a repository; the result lists what was copied, skipped and mounted. */
export async function cloneImage(input: CloneInput, context: ToolboxContext, tuning: CloneTuning = {}): Promise<CloneResult> {
  if (input.allTags) return cloneRepository(input, context, tuning);
  const session = newCloneSession(context, input, tuning);
  const source = parseImageReference(input.source);
  const target = targetReference(input.target, source);
  await copyImage(session, source, target);
  return session.result(formatImageReference(source), formatImageReference(target));
}

/** Copies every tag of the source repository into the target repository, under the same tags. */
export async function cloneRepository(input: CloneInput, context: ToolboxContext, tuning: CloneTuning = {}): Promise<CloneResult> {
  const session = newCloneSession(context, input, tuning);
  const source = parseImageReference(input.source);
  const target = targetReference(input.target, source);
  await copyRepository(session, source, target);
  return session.result(formatRepositoryLocation(source), formatRepositoryLocation(target));
}

/** Every tag of `source`'s repository into `target`'s; returns the tags copied. */
export async function copyRepository(session: CloneSession, source: Pick<ImageReference, 'registry' | 'repository'>, target: Pick<ImageReference, 'registry' | 'repository'>): Promise<string[]> {
  const tags = await listTags(session, source);
  session.context.progress({ kind: 'step', message: `${formatRepositoryLocation(source)}: ${tags.length} tag${tags.length === 1 ? '' : 's'}` });
  for (const tag of tags) {
    await copyImage(session, { ...source, tag }, { ...target, tag });
  }
  return tags;
}

export async function listTags(session: CloneSession, repository: Pick<ImageReference, 'registry' | 'repository'>): Promise<string[]> {
  const where = formatRepositoryLocation(repository);
  const client = await session.access.client(repository.registry);
  const tags = await client.listTags(repository.repository, session.context.signal).catch((error: unknown) => {
    throw toolboxFailure(error, `listing the tags of ${where}`);
  });
  if (!tags) throw new ToolboxError('NOT_FOUND', `${where} does not exist, or is not yours to read`);
  return [...tags].sort();
}

/**
 * The target as the user meant it: the host must be written out (a bare name is not sent to Docker
 * Hub by accident), and without a tag or digest the source's tag is kept.
 */
export function targetReference(text: string, source: ImageReference): ImageReference {
  const written = text.trim();
  if (!namesRegistryHost(written)) {
    throw new ToolboxError('INVALID_INPUT', `name the target registry: "${written}" has no host (write docker.io/${written} to mean Docker Hub)`, { target: written });
  }
  const parsed = parseImageReference(written);
  if (parsed.digest) throw new ToolboxError('INVALID_INPUT', `the target "${written}" names a digest; give a tag or none (the digest is kept anyway)`, { target: written });
  const tagWritten = /:[^/]+$/.test(written);
  return { registry: parsed.registry, repository: parsed.repository, ...(tagWritten ? { tag: parsed.tag } : source.tag ? { tag: source.tag } : {}) };
}

export interface ImageTree {
  top: RegistryManifest;
  /** Every manifest below the top, children before their parents. */
  children: RegistryManifest[];
  blobs: BlobDescriptor[];
  platforms: string[];
}

/** One image (a manifest or a whole index) from source to target, blobs first, then manifests bottom-up. */
export async function copyImage(session: CloneSession, source: ImageReference, target: ImageReference): Promise<ClonedImage> {
  const { context } = session;
  const sourceText = formatImageReference(source);
  const targetText = formatImageReference(target);
  const [sourceClient, targetClient] = await Promise.all([session.access.client(source.registry), session.access.client(target.registry)]);
  const tree = await readImage(sourceClient, source, context.signal).catch((error: unknown) => {
    throw toolboxFailure(error, `reading ${sourceText}`);
  });
  context.progress({ kind: 'step', message: `copying ${sourceText} → ${targetText} (${tree.platforms.length > 1 ? `${tree.platforms.length} platforms, ` : ''}${tree.blobs.length} blobs)` });

  await copyBlobs(session, tree.blobs, { client: sourceClient, host: source.registry, repository: source.repository }, { client: targetClient, host: target.registry, repository: target.repository });

  const manifests = { pushed: 0, skipped: 0 };
  try {
    for (const child of tree.children) {
      const there = await targetClient.headManifest(target.repository, child.digest, [child.mediaType], context.signal);
      if (there) manifests.skipped += 1;
      else {
        await targetClient.putManifest(target.repository, child.digest, child, context.signal);
        manifests.pushed += 1;
      }
    }
    const reference = target.tag ?? tree.top.digest;
    const there = await targetClient.headManifest(target.repository, reference, manifestAccept, context.signal);
    if (there?.digest === tree.top.digest) manifests.skipped += 1;
    else {
      const stored = await targetClient.putManifest(target.repository, reference, tree.top, context.signal);
      if (stored !== tree.top.digest) throw new ToolboxError('FAILED', `${target.registry} stored ${targetText} as ${stored}, not ${tree.top.digest}: it rewrote the manifest`);
      manifests.pushed += 1;
    }
  } catch (error) {
    throw toolboxFailure(error, `putting the manifests of ${targetText}`);
  }
  const image: ClonedImage = { source: sourceText, target: targetText, digest: tree.top.digest, mediaType: tree.top.mediaType, platforms: tree.platforms, manifests };
  session.images.push(image);
  context.progress({ kind: 'step', message: `${targetText} is ${tree.top.digest}` });
  return image;
}

async function copyBlobs(session: CloneSession, blobs: BlobDescriptor[], source: BlobEnd, target: BlobEnd): Promise<void> {
  const { context, options } = session;
  const sameRegistry = source.host === target.host;
  const pending = blobs.filter((blob) => !session.holds(target.host, target.repository, blob.digest));
  const label = (blob: BlobDescriptor) => `${blob.mediaType?.includes('config') ? 'config' : 'layer'} ${blob.digest.slice(0, 19)}`;
  for (const blob of pending) {
    context.progress({ kind: 'transfer', id: `${target.repository}@${blob.digest}`, label: label(blob), totalBytes: blob.size, doneBytes: 0, state: 'waiting' });
  }
  await forEachLimited(pending, options.concurrency, context.signal, async (blob) => {
    try {
      const outcome = await copyBlob(source, target, blob, {
        mountFrom: sameRegistry ? source.repository : session.holderOtherThan(target.host, target.repository, blob.digest),
        chunkBytes: options.chunkBytes,
        sessions: options.uploadSessions,
        progress: context.progress,
        signal: context.signal,
        label: label(blob),
      });
      session.record(target.host, outcome);
    } catch (error) {
      context.progress({ kind: 'transfer', id: `${target.repository}@${blob.digest}`, label: label(blob), totalBytes: blob.size, doneBytes: 0, state: 'failed' });
      throw toolboxFailure(error, `copying ${blob.digest} to ${target.host}/${target.repository}`);
    }
  });
}

/** Reads a manifest and, for an index, every manifest below it; collects the blobs they name, each once. */
export async function readImage(client: RegistryClient, reference: ImageReference, signal: AbortSignal | undefined): Promise<ImageTree> {
  const where = formatImageReference(reference);
  const top = await client.getManifest(reference.repository, reference.digest ?? reference.tag ?? 'latest', manifestAccept, signal);
  if (!top) throw new ToolboxError('NOT_FOUND', `${where} does not exist, or is not yours to read`);
  const tree: ImageTree = { top, children: [], blobs: [], platforms: [] };
  const seenBlobs = new Set<string>();
  const visit = async (manifest: RegistryManifest, depth: number, platform: string | undefined): Promise<void> => {
    const body = parseManifest(manifest, where);
    if (body.manifests) {
      if (depth > 2) throw new ToolboxError('FAILED', `${where}: indexes nest deeper than Berth follows`);
      for (const child of body.manifests) {
        const fetched = await client.getManifest(reference.repository, child.digest, child.mediaType ? [child.mediaType, ...manifestAccept] : manifestAccept, signal);
        if (!fetched) throw new ToolboxError('NOT_FOUND', `${where} lists ${child.digest}, which the registry does not have`);
        await visit(fetched, depth + 1, formatPlatform(child.platform));
        if (!tree.children.some((known) => known.digest === fetched.digest)) tree.children.push(fetched);
      }
      return;
    }
    if (platform) tree.platforms.push(platform);
    for (const blob of [body.config, ...(body.layers ?? [])]) {
      if (!blob || seenBlobs.has(blob.digest)) continue;
      seenBlobs.add(blob.digest);
      tree.blobs.push({ digest: blob.digest, size: blob.size, mediaType: blob.mediaType });
    }
  };
  await visit(top, 0, undefined);
  return tree;
}

interface ManifestBody {
  mediaType?: string;
  manifests?: Array<{ digest: string; mediaType?: string; size: number; platform?: { os?: string; architecture?: string; variant?: string } }>;
  config?: { digest: string; size: number; mediaType?: string };
  layers?: Array<{ digest: string; size: number; mediaType?: string }>;
}

function parseManifest(manifest: RegistryManifest, where: string): ManifestBody {
  let body: ManifestBody;
  try {
    body = JSON.parse(manifest.bytes.toString('utf8')) as ManifestBody;
  } catch {
    throw new ToolboxError('FAILED', `${where}: manifest ${manifest.digest} is not JSON`);
  }
  if (manifest.mediaType.startsWith('application/vnd.docker.distribution.manifest.v1+')) {
    throw new ToolboxError('FAILED', `${where} is a Docker schema 1 manifest, which cannot be copied with its digest; rebuild or re-push it with a current client`);
  }
  const descriptors = [...(body.manifests ?? []), ...(body.config ? [body.config] : []), ...(body.layers ?? [])];
  if (descriptors.some((d) => typeof d?.digest !== 'string' || !isDigest(d.digest) || typeof d.size !== 'number')) {
    throw new ToolboxError('FAILED', `${where}: manifest ${manifest.digest} has a descriptor without a valid digest and size`);
  }
  return body;
}

function formatPlatform(platform: { os?: string; architecture?: string; variant?: string } | undefined): string | undefined {
  if (!platform?.os || !platform.architecture) return undefined;
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** Runs `work` over items, at most `limit` at a time; the first failure stops new work and is rethrown once the rest settle. */
async function forEachLimited<T>(items: readonly T[], limit: number, signal: AbortSignal | undefined, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < items.length && !failure) {
      if (signal?.aborted) {
        failure ??= { error: signal.reason };
        return;
      }
      const item = items[next++]!;
      await work(item).catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}
