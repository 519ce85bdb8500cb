import { readCapped } from '../../http/body.ts';
import { parseDigest } from '../digest.ts';
import { parseReference } from '../registry.ts';
import { reply, type OciContext } from './context.ts';

/** GET and HEAD /v2/<name>/manifests/<reference>: the exact bytes pushed, with their media type. */
export async function getManifest(ctx: OciContext): Promise<void> {
  const { registry } = ctx.services;
  const repository = await registry.existing(ctx.name);
  const record = await registry.manifest(repository, parseReference(ctx.param));
  const headers = {
    'Content-Type': record.mediaType,
    'Docker-Content-Digest': record.digest,
    ETag: `"${record.digest}"`,
  };
  if (ctx.req.method === 'HEAD') {
    ctx.res.writeHead(200, { ...headers, 'Content-Length': record.size });
    ctx.res.end();
    return;
  }
  reply(ctx, 200, headers, await registry.manifestBytes(record));
  await registry.recordPull(repository, record.digest);
}

/** PUT /v2/<name>/manifests/<reference>: validated, then stored byte for byte. */
export async function putManifest(ctx: OciContext): Promise<void> {
  const { registry, maxManifestBytes } = ctx.services;
  const reference = parseReference(ctx.param);
  const bytes = await readCapped(ctx.req, maxManifestBytes);
  const repository = await registry.forPush(ctx.name);
  const { digest, subject } = await registry.putManifest(repository, reference, bytes, ctx.req.headers['content-type']);
  reply(ctx, 201, {
    Location: `${ctx.base}/v2/${ctx.name.full}/manifests/${digest}`,
    'Docker-Content-Digest': digest,
    ...(subject ? { 'OCI-Subject': subject } : {}),
  });
}

/** DELETE /v2/<name>/manifests/<reference>: a digest deletes the manifest and its tags, a tag only the tag. */
export async function deleteManifest(ctx: OciContext): Promise<void> {
  const { registry } = ctx.services;
  const repository = await registry.existing(ctx.name);
  await registry.deleteManifest(repository, parseReference(ctx.param));
  reply(ctx, 202, {});
}

/** GET /v2/<name>/referrers/<digest>[?artifactType=]: an index of the manifests whose subject it is. */
export async function getReferrers(ctx: OciContext): Promise<void> {
  const { registry } = ctx.services;
  const subject = parseDigest(ctx.param);
  const repository = await registry.existing(ctx.name);
  const artifactType = ctx.url.searchParams.get('artifactType') ?? undefined;
  const body = await registry.referrers(repository, subject, artifactType);
  reply(
    ctx,
    200,
    {
      'Content-Type': 'application/vnd.oci.image.index.v1+json',
      ...(artifactType !== undefined ? { 'OCI-Filters-Applied': 'artifactType' } : {}),
    },
    body,
  );
}
