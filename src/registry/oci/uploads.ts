import { isValidName, parseRepositoryName } from '../names.ts';
import { parseDigest, type Digest } from '../digest.ts';
import { RegistryError } from '../errors.ts';
import type { Repository } from '../repository-index.ts';
import type { MountSource } from '../registry.ts';
import { reply, type OciContext } from './context.ts';

/**
 * POST /v2/<name>/blobs/uploads/: starts an upload (202), uploads monolithically with `?digest=`
 * (201), or mounts a blob from another repository with `?mount=&from=` (201; 202 and a fresh
 * upload when it cannot be mounted). Without a readable `from`, any repository the caller may
 * read that holds the blob is used (automatic mount).
 */
export async function startUpload(ctx: OciContext): Promise<void> {
  const { registry, uploads } = ctx.services;
  const repository = await registry.forPush(ctx.name);
  const mount = ctx.url.searchParams.get('mount');
  if (mount !== null) {
    const digest = parseDigest(mount);
    if (await registry.mount(repository, digest, await mountSources(ctx, digest))) {
      ctx.req.resume();
      return blobCreated(ctx, digest);
    }
  }
  const digestParam = ctx.url.searchParams.get('digest');
  if (mount === null && digestParam !== null) {
    const digest = parseDigest(digestParam);
    const id = await uploads.start(repository);
    try {
      await uploads.complete(repository, id, digest, ctx.req, { length: declaredLength(ctx), signal: ctx.signal });
    } catch (error) {
      await uploads.cancel(repository, id).catch(() => undefined);
      throw error;
    }
    return blobCreated(ctx, digest);
  }
  ctx.req.resume();
  const id = await uploads.start(repository);
  uploadAccepted(ctx, id, 0);
}

/** PATCH /v2/<name>/blobs/uploads/<id>: a chunk with `Content-Range`, or a stream without. */
export async function patchUpload(ctx: OciContext): Promise<void> {
  const repository = await ctx.services.registry.existing(ctx.name);
  const range = parseContentRange(ctx.req.headers['content-range']);
  const declared = declaredLength(ctx);
  if (range && declared !== undefined && declared !== range.end - range.start + 1) {
    throw new RegistryError('SizeInvalid', `Content-Range covers ${range.end - range.start + 1} bytes but Content-Length is ${declared}`);
  }
  const size = await ctx.services.uploads.append(repository, ctx.param, ctx.req, {
    start: range?.start,
    length: range ? range.end - range.start + 1 : declared,
    signal: ctx.signal,
  });
  uploadAccepted(ctx, ctx.param, size);
}

/** PUT /v2/<name>/blobs/uploads/<id>?digest=: the optional last chunk, then commit. */
export async function completeUpload(ctx: OciContext): Promise<void> {
  const repository = await ctx.services.registry.existing(ctx.name);
  const digest = parseDigest(ctx.url.searchParams.get('digest'));
  const range = parseContentRange(ctx.req.headers['content-range']);
  await ctx.services.uploads.complete(repository, ctx.param, digest, ctx.req, {
    start: range?.start,
    length: declaredLength(ctx),
    signal: ctx.signal,
  });
  blobCreated(ctx, digest);
}

/** GET /v2/<name>/blobs/uploads/<id>: how much has arrived, to resume. */
export async function uploadStatus(ctx: OciContext): Promise<void> {
  const repository = await ctx.services.registry.existing(ctx.name);
  const size = await ctx.services.uploads.size(repository, ctx.param);
  reply(ctx, 204, uploadHeaders(ctx, ctx.param, size));
}

/** DELETE /v2/<name>/blobs/uploads/<id>: abandon the upload. */
export async function cancelUpload(ctx: OciContext): Promise<void> {
  const repository: Repository = await ctx.services.registry.existing(ctx.name);
  await ctx.services.uploads.cancel(repository, ctx.param);
  reply(ctx, 204, {});
}

async function mountSources(ctx: OciContext, digest: Digest): Promise<MountSource[]> {
  const { registry, access } = ctx.services;
  const from = ctx.url.searchParams.get('from');
  if (from && isValidName(from) && from.includes('/')) {
    const name = parseRepositoryName(from);
    const source = await registry.find(name);
    if (source && (await access.may(ctx.principal, name, 'pull')) && (await registry.blobSize(source, digest).catch(() => undefined)) !== undefined) {
      return [{ repositoryId: source.id, workspaceId: source.workspaceId, fullName: name.full, isPublic: source.isPublic }];
    }
  }
  return access.readableSources(ctx.principal, await registry.mountCandidates(digest));
}

function blobCreated(ctx: OciContext, digest: Digest): void {
  reply(ctx, 201, { Location: `${ctx.base}/v2/${ctx.name.full}/blobs/${digest}`, 'Docker-Content-Digest': digest });
}

function uploadAccepted(ctx: OciContext, id: string, size: number): void {
  reply(ctx, 202, uploadHeaders(ctx, id, size));
}

function uploadHeaders(ctx: OciContext, id: string, size: number): Record<string, string> {
  return {
    Location: `${ctx.base}/v2/${ctx.name.full}/blobs/uploads/${id}`,
    Range: `0-${Math.max(0, size - 1)}`,
    'Docker-Upload-UUID': id,
  };
}

function declaredLength(ctx: OciContext): number | undefined {
  const header = ctx.req.headers['content-length'];
  return header === undefined ? undefined : Number(header);
}

/** `Content-Range: <start>-<end>` (inclusive); a `bytes ` prefix is tolerated. */
function parseContentRange(header: string | undefined): { start: number; end: number } | undefined {
  if (!header) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(header.trim());
  if (!match) throw new RegistryError('RangeInvalid', `malformed Content-Range "${header.slice(0, 100)}"`);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new RegistryError('RangeInvalid', `Content-Range "${header}" ends before it starts`);
  return { start, end };
}
