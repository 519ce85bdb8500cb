import type { ServerResponse } from 'node:http';
import { BodyTooLarge } from '../../http/body.ts';
import { RegistryError, type RegistryErrorKind } from '../errors.ts';

/** An error code of the OCI distribution spec, with its HTTP status and standard message. */
export interface OciCode {
  status: number;
  message: string;
}

/** Every code this face can send; `docs/registry.md` lists the same set (a test keeps them equal). */
export const Oci = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 404, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
} as const satisfies Record<string, OciCode>;

export type OciCodeName = keyof typeof Oci;

/** How each domain failure appears on the wire; a status overrides the code's usual one. */
const fromDomain: Record<RegistryErrorKind, { code: OciCodeName; status?: number }> = {
  BlobUnknown: { code: 'BLOB_UNKNOWN' },
  BlobUploadUnknown: { code: 'BLOB_UPLOAD_UNKNOWN' },
  BlobUploadInvalid: { code: 'BLOB_UPLOAD_INVALID' },
  DigestInvalid: { code: 'DIGEST_INVALID' },
  ManifestUnknown: { code: 'MANIFEST_UNKNOWN' },
  ManifestInvalid: { code: 'MANIFEST_INVALID' },
  ManifestBlobUnknown: { code: 'MANIFEST_BLOB_UNKNOWN' },
  ManifestTooLarge: { code: 'MANIFEST_INVALID', status: 413 },
  NameInvalid: { code: 'NAME_INVALID' },
  NameUnknown: { code: 'NAME_UNKNOWN' },
  TagInvalid: { code: 'MANIFEST_INVALID' },
  RangeInvalid: { code: 'BLOB_UPLOAD_INVALID', status: 416 },
  SizeInvalid: { code: 'SIZE_INVALID' },
  PaginationInvalid: { code: 'PAGINATION_NUMBER_INVALID' },
  Denied: { code: 'DENIED' },
  Unsupported: { code: 'UNSUPPORTED' },
  RepositoryAlreadyExists: { code: 'DENIED', status: 409 },
  RepositoryNotEmpty: { code: 'DENIED' },
  RepositoryPolicyNotFound: { code: 'NAME_UNKNOWN' },
  RegistryPolicyNotFound: { code: 'NAME_UNKNOWN' },
  LifecyclePolicyNotFound: { code: 'NAME_UNKNOWN' },
  LifecyclePreviewNotFound: { code: 'NAME_UNKNOWN' },
  ImageNotFound: { code: 'MANIFEST_UNKNOWN' },
  ImageAlreadyExists: { code: 'DENIED', status: 409 },
  // An immutable tag cannot move: refused as a permission, naming the tag.
  TagImmutable: { code: 'DENIED' },
  InvalidParameter: { code: 'UNSUPPORTED', status: 400 },
  PullThroughRuleAlreadyExists: { code: 'DENIED', status: 409 },
  PullThroughRuleNotFound: { code: 'NAME_UNKNOWN' },
  UnsupportedUpstream: { code: 'UNSUPPORTED' },
  CredentialNotFound: { code: 'UNAUTHORIZED' },
  TemplateAlreadyExists: { code: 'DENIED', status: 409 },
  TemplateNotFound: { code: 'NAME_UNKNOWN' },
  // The upstream of a pull-through cache could not serve what is not cached yet.
  UpstreamUnavailable: { code: 'UNSUPPORTED', status: 502 },
};

/** An error to send as is, for conditions that only exist at the HTTP edge. */
export class OciError extends Error {
  constructor(
    readonly code: OciCodeName,
    message?: string,
    readonly detail?: unknown,
    readonly status: number = Oci[code].status,
    readonly headers: Record<string, string> = {},
  ) {
    super(message ?? Oci[code].message);
    this.name = 'OciError';
  }
}

/** Any thrown value as the OCI error it is on the wire; unknown errors become 500s. */
export function toOciError(error: unknown): OciError | undefined {
  if (error instanceof OciError) return error;
  if (error instanceof RegistryError) {
    const mapped = fromDomain[error.kind];
    return new OciError(mapped.code, error.message, error.detail, mapped.status ?? Oci[mapped.code].status);
  }
  if (error instanceof BodyTooLarge) return new OciError('SIZE_INVALID', error.message, undefined, 413);
  return undefined;
}

/** Writes the spec's error body `{"errors":[{code,message,detail}]}` (headers only for HEAD). */
export function sendOciError(res: ServerResponse, error: OciError, head: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ errors: [{ code: error.code, message: error.message, detail: error.detail ?? null }] });
  res.writeHead(error.status, {
    ...error.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(head ? undefined : body);
}
