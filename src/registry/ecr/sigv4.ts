import { timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

/** A request as it arrived, for verification. Header names are lower case. */
export interface IncomingSignedRequest {
  method: string;
  /** Path and query as sent, e.g. `/ecr/`. */
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export type SigV4Failure =
  | { code: 'MissingAuthenticationTokenException'; message: string }
  | { code: 'IncompleteSignatureException'; message: string }
  | { code: 'UnrecognizedClientException'; message: string }
  | { code: 'InvalidSignatureException'; message: string };

export type SigV4Result<T> = { ok: true; owner: T; accessKeyId: string; region: string } | { ok: false; failure: SigV4Failure };

/** How far a request's X-Amz-Date may be from our clock, as AWS allows. */
const maxSkewMs = 5 * 60 * 1000;
const authorizationPattern = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;.-]+), ?Signature=([0-9a-f]{64})$/;

/**
 * Verifies an AWS Signature Version 4 (header form): recomputes the signature over the same
 * canonical request with the key's secret and compares. `lookup` resolves an access key id to its
 * owner and secret.
 */
export async function verifySigV4<T extends { secretAccessKey: string }>(
  request: IncomingSignedRequest,
  service: string,
  lookup: (accessKeyId: string) => Promise<T | undefined>,
  now: number = Date.now(),
): Promise<SigV4Result<T>> {
  const authorization = header(request, 'authorization');
  if (!authorization) return fail('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const match = authorizationPattern.exec(authorization);
  if (!match) {
    return fail('IncompleteSignatureException', 'Authorization header requires Credential, SignedHeaders and Signature, signed with AWS4-HMAC-SHA256.');
  }
  const [, accessKeyId, day, region, scopeService, signedHeaderList, signature] = match as unknown as string[];
  const amzDate = header(request, 'x-amz-date');
  const signingDate = amzDate ? parseAmzDate(amzDate) : undefined;
  if (!signingDate || amzDate!.slice(0, 8) !== day) {
    return fail('IncompleteSignatureException', 'X-Amz-Date must be present, in the form YYYYMMDDTHHMMSSZ, and match the credential scope date.');
  }
  if (scopeService !== service) return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`);
  if (Math.abs(now - signingDate.getTime()) > maxSkewMs) {
    return fail(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(new Date(now - maxSkewMs))} (${formatAmzDate(new Date(now))} - 5 min.)`,
    );
  }
  const owner = await lookup(accessKeyId!);
  if (!owner) return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
  const expected = await computeSignature(request, signedHeaderList!.split(';'), {
    accessKeyId: accessKeyId!,
    secretAccessKey: owner.secretAccessKey,
    region: region!,
    service,
    signingDate,
  });
  const matches = expected !== undefined && timingSafeEqual(Buffer.from(expected), Buffer.from(signature!));
  if (!matches) {
    return fail(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
  return { ok: true, owner, accessKeyId: accessKeyId!, region: region! };
}

async function computeSignature(
  request: IncomingSignedRequest,
  signedHeaders: string[],
  key: { accessKeyId: string; secretAccessKey: string; region: string; service: string; signingDate: Date },
): Promise<string | undefined> {
  const url = new URL(request.url, 'http://placeholder');
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = header(request, name);
    if (value === undefined) return undefined;
    headers[name] = value;
  }
  const query: Record<string, string | string[]> = {};
  for (const [name, value] of url.searchParams) {
    const existing = query[name];
    query[name] = existing === undefined ? value : [...(Array.isArray(existing) ? existing : [existing]), value];
  }
  const signer = new SignatureV4({
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    region: key.region,
    service: key.service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({ method: request.method, hostname: headers.host ?? '', path: url.pathname, query, headers, body: request.body }),
    { signingDate: key.signingDate, signableHeaders: new Set(signedHeaders) },
  );
  const produced = String(signed.headers.authorization ?? signed.headers.Authorization ?? '');
  return /Signature=([0-9a-f]{64})/.exec(produced)?.[1];
}

function header(request: IncomingSignedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function parseAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
}

function formatAmzDate(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function fail(code: SigV4Failure['code'], message: string): { ok: false; failure: SigV4Failure } {
  return { ok: false, failure: { code, message } as SigV4Failure };
}
