import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { AugmentError, type AugmentErrorKind } from '../builder/augment/augment-errors.ts';
import { augmentImage, type AugmentDeps } from '../builder/augment/augment-image.ts';
import { isDigest, type Digest } from '../registry/digest.ts';
import { ApiError, readJson, sendJson } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';

/** How each augmentation failure is answered (documented in docs/builder.md, "Augmentation errors"). */
export const augmentErrorCodes: Record<AugmentErrorKind, { status: number; code: string }> = {
  SourceUnknown: { status: 404, code: 'SOURCE_UNKNOWN' },
  SourceIncomplete: { status: 409, code: 'SOURCE_INCOMPLETE' },
  Denied: { status: 403, code: 'DENIED' },
  InvalidRequest: { status: 400, code: 'INVALID_REQUEST' },
  LayerNotFound: { status: 400, code: 'LAYER_NOT_FOUND' },
  LayerInvalid: { status: 400, code: 'LAYER_INVALID' },
  Unsupported: { status: 400, code: 'UNSUPPORTED' },
};

const augmentRequest = z
  .object({
    source: z.string().min(1).max(512),
    target: z.string().min(1).max(512),
    /** Blobs the caller pushed to the target repository beforehand (OCI upload API): tar or tar+gzip. */
    layers: z
      .array(z.object({ digest: z.string().refine(isDigest, 'must be a digest such as sha256:<64 hex digits>') }).strict())
      .max(32)
      .default([]),
    env: z.array(z.string().max(32 * 1024)).max(1000).optional(),
    entrypoint: z.array(z.string()).max(1000).optional(),
    cmd: z.array(z.string()).max(1000).optional(),
    workdir: z.string().max(4096).optional(),
    labels: z.record(z.string(), z.string()).optional(),
  })
  .strict();

/**
 * `POST /api/images/augment`: a new image from an image in Berth, with layers and run settings
 * added by manifest surgery (see docs/builder.md, "Augmentation"). The layers are blobs the caller
 * has already pushed to the target repository; the API token needs the registry scopes for pulling
 * the source and pushing the target, as a registry client would.
 */
export function imageRoutes(deps: Omit<AugmentDeps, 'localHosts'> & { publicUrl?: string }): ApiRoute[] {
  return [
    {
      method: 'POST',
      pattern: /^\/api\/images\/augment$/,
      handler: async (ctx) => {
        const body = await readJson(ctx, augmentRequest);
        const request = {
          ...body,
          actor: { user: ctx.caller.user, scopes: ctx.caller.token.scopes },
          layers: body.layers.map((layer) => ({ kind: 'blob' as const, digest: layer.digest as Digest })),
        };
        try {
          const result = await augmentImage({ ...deps, localHosts: hostsOf(ctx.req, deps.publicUrl) }, request);
          sendJson(ctx.res, 201, result);
        } catch (error) {
          if (!(error instanceof AugmentError)) throw error;
          const { status, code } = augmentErrorCodes[error.kind];
          throw new ApiError(status, code, error.message);
        }
      },
    },
  ];
}

/** The names clients reach this registry by: the Host they used, and the public URL's host. */
function hostsOf(req: IncomingMessage, publicUrl: string | undefined): string[] {
  const hosts = req.headers.host ? [req.headers.host] : [];
  if (publicUrl) hosts.push(new URL(publicUrl).host);
  return hosts;
}
