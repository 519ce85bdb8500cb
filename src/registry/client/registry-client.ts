import { algorithmOf, digestOf, isDigest, type Digest } from '../digest.ts';
import { UpstreamProtocolError } from '../pullthrough/upstream-errors.ts';
import { parseJsonObject, RegistryTransport, type Exchange, type RegistryTransportOptions } from './registry-transport.ts';

export type RegistryClientOptions = RegistryTransportOptions;

export interface RegistryManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

export interface RegistryManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface RegistryBlob {
  /** Bytes that will arrive: the whole blob, or what is left of it after `offset`. */
  size: number;
  /** The bytes as they arrive; stopping the iteration early releases the connection. */
  body: AsyncIterable<Uint8Array>;
}

/** What asking to mount a blob led to: mounted, or refused with a fresh upload session to push it through instead. */
export type MountOutcome = { mounted: true } | { mounted: false; location: string };

const maxManifestBytes = 4 * 1024 * 1024;
const maxListingBytes = 16 * 1024 * 1024;
const genericContentTypes = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);
/** Pages asked of tag and catalog listings; registries may send fewer and a Link to the next page. */
const listingPageSize = 1000;

/**
 * A client for one OCI registry (distribution spec v1.1): manifests, blobs as streams, uploads
 * (monolithic, chunked and resumable, cross-repository mounts), tag and catalog listings. HTTP,
 * authentication and error typing are `RegistryTransport`'s; failures are the typed errors of
 * `upstream-errors.ts`, and a 404 where the object may simply be absent is `undefined` instead.
 */
export class RegistryClient {
  protected readonly transport: RegistryTransport;

  constructor(options: RegistryClientOptions) {
    this.transport = new RegistryTransport(options);
  }

  /** Scheme, host and path prefix the client talks to. */
  get base(): string {
    return this.transport.base;
  }

  /** Resolves when `/v2/` answers 200 with our credentials; rejects with an UpstreamError naming the problem. */
  async ping(signal?: AbortSignal): Promise<void> {
    const exchange = await this.transport.send({ method: 'GET', path: '/v2/', signal });
    if (exchange.response.ok) return exchange.discard();
    if (exchange.response.status === 404) {
      await exchange.discard();
      throw new UpstreamProtocolError(this.base, `${this.base} is not an OCI registry: GET /v2/ answered 404`, 404);
    }
    throw await this.transport.failure(exchange, 'the registry API');
  }

  /** Digest, media type and size of a manifest without fetching it; undefined when the registry has no such manifest. */
  async headManifest(repository: string, reference: string, accept: string[], signal?: AbortSignal): Promise<RegistryManifestHead | undefined> {
    const exchange = await this.transport.send({ method: 'HEAD', path: manifestPath(repository, reference), scopes: [pullScope(repository)], accept, signal });
    if (exchange.response.status === 404) return exchange.discard().then(() => undefined);
    if (!exchange.response.ok) throw await this.transport.failure(exchange, `manifest ${repository}:${reference}`);
    await exchange.discard();
    const headers = exchange.response.headers;
    const announced = headers.get('docker-content-digest') ?? '';
    const digest = isDigest(reference) ? reference : isDigest(announced) ? announced : undefined;
    const size = Number(headers.get('content-length') ?? NaN);
    const mediaType = contentType(headers);
    // Not every registry answers HEAD fully; one GET is then the only way to learn what the tag is.
    if (!digest || !Number.isSafeInteger(size) || genericContentTypes.has(mediaType)) {
      const manifest = await this.getManifest(repository, reference, accept, signal);
      return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
    }
    return { digest, mediaType, size };
  }

  /**
   * A manifest's bytes, checked against the digest asked for (or the one the registry announced),
   * at most 4 MiB; undefined when the registry has no such manifest.
   */
  async getManifest(repository: string, reference: string, accept: string[], signal?: AbortSignal): Promise<RegistryManifest | undefined> {
    const what = `manifest ${repository}:${reference}`;
    const exchange = await this.transport.send({ method: 'GET', path: manifestPath(repository, reference), scopes: [pullScope(repository)], accept, signal });
    if (exchange.response.status === 404) return exchange.discard().then(() => undefined);
    if (!exchange.response.ok) throw await this.transport.failure(exchange, what);
    const bytes = await exchange.readCapped(maxManifestBytes, what);
    const announced = exchange.response.headers.get('docker-content-digest') ?? '';
    const expected = isDigest(reference) ? reference : isDigest(announced) ? announced : undefined;
    if (expected && digestOf(bytes, algorithmOf(expected)) !== expected) {
      throw new UpstreamProtocolError(this.base, `${what} does not hash to ${expected}`);
    }
    const digest = isDigest(reference) ? reference : digestOf(bytes);
    return { bytes, digest, mediaType: manifestMediaType(exchange.response.headers, bytes) };
  }

  /** Stores a manifest's exact bytes under a tag or its digest; resolves to the digest the registry reports. */
  async putManifest(repository: string, reference: string, manifest: { bytes: Buffer; mediaType: string }, signal?: AbortSignal): Promise<Digest> {
    const exchange = await this.transport.send({
      method: 'PUT',
      path: manifestPath(repository, reference),
      scopes: [pushScope(repository)],
      headers: { 'Content-Type': manifest.mediaType },
      body: manifest.bytes,
      signal,
    });
    if (exchange.response.status !== 201 && !exchange.response.ok) throw await this.transport.failure(exchange, `putting manifest ${repository}:${reference}`);
    await exchange.discard();
    const announced = exchange.response.headers.get('docker-content-digest') ?? '';
    return isDigest(announced) ? announced : digestOf(manifest.bytes);
  }

  /** The blob's size when the repository has it (HEAD), undefined when it does not. */
  async blobSize(repository: string, digest: string, signal?: AbortSignal): Promise<number | undefined> {
    const exchange = await this.transport.send({ method: 'HEAD', path: blobPath(repository, digest), scopes: [pullScope(repository)], signal });
    await exchange.discard();
    if (exchange.response.status === 404) return undefined;
    if (!exchange.response.ok) throw await this.transport.failure(exchange, `blob ${digest} of ${repository}`);
    const size = Number(exchange.response.headers.get('content-length') ?? NaN);
    return Number.isSafeInteger(size) ? size : 0;
  }

  /**
   * Streams a blob, or its tail from `offset` (a Range request), following redirects (to a storage
   * host, say) without sending our Authorization there. Rejects with UpstreamNotFound when the
   * registry has no such blob. The bytes are not verified here: the caller hashes them, or the
   * registry they are pushed to does.
   */
  async getBlob(repository: string, digest: string, signal?: AbortSignal, offset = 0): Promise<RegistryBlob> {
    const what = `blob ${digest} of ${repository}`;
    const exchange = await this.transport.send({
      method: 'GET',
      path: blobPath(repository, digest),
      scopes: [pullScope(repository)],
      headers: offset > 0 ? { Range: `bytes=${offset}-` } : undefined,
      signal,
    });
    if (!exchange.response.ok) throw await this.transport.failure(exchange, what);
    const size = Number(exchange.response.headers.get('content-length') ?? NaN);
    if (!Number.isSafeInteger(size) || size < 0) {
      await exchange.discard();
      throw new UpstreamProtocolError(this.base, `${what} came without a Content-Length`, exchange.response.status);
    }
    if (offset > 0 && exchange.response.status !== 206) {
      // The registry ignored the Range: skip the bytes we already have rather than failing.
      return { size: size - offset, body: skipBytes(exchange.body(), offset) };
    }
    return { size, body: exchange.body() };
  }

  /** Opens an upload session (POST); resolves to its location, for the chunks and the final PUT. */
  async startUpload(repository: string, signal?: AbortSignal): Promise<string> {
    const exchange = await this.transport.send({ method: 'POST', path: `/v2/${encodeName(repository)}/blobs/uploads/`, scopes: [pushScope(repository)], body: Buffer.alloc(0), signal });
    return this.uploadLocation(exchange, `an upload to ${repository}`);
  }

  /**
   * Asks the registry to mount `digest` from repository `from` (same registry) instead of uploading it.
   * A registry that cannot (no such blob there, no access, no support) starts an ordinary upload instead.
   */
  async mountBlob(repository: string, digest: string, from: string, signal?: AbortSignal): Promise<MountOutcome> {
    const query = `mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    const exchange = await this.transport.send({
      method: 'POST',
      path: `/v2/${encodeName(repository)}/blobs/uploads/?${query}`,
      scopes: [pushScope(repository), pullScope(from)],
      body: Buffer.alloc(0),
      signal,
    });
    if (exchange.response.status === 201) {
      await exchange.discard();
      return { mounted: true };
    }
    return { mounted: false, location: await this.uploadLocation(exchange, `mounting ${digest} into ${repository}`) };
  }

  /** Bytes an upload session holds so far (GET on its location, `Range: 0-N`); undefined when the session is gone. */
  async uploadedBytes(repository: string, location: string, signal?: AbortSignal): Promise<number | undefined> {
    const exchange = await this.transport.send({ method: 'GET', path: location, scopes: [pushScope(repository)], signal });
    await exchange.discard();
    if (exchange.response.status === 404) return undefined;
    if (exchange.response.status !== 204 && !exchange.response.ok) throw await this.transport.failure(exchange, `the upload status in ${repository}`);
    return rangeEnd(exchange.response.headers.get('range'));
  }

  /** Sends `length` bytes at `start` of an upload (PATCH with Content-Range); resolves to the session's next location. */
  async appendChunk(repository: string, location: string, chunk: { body: AsyncIterable<Uint8Array> | Buffer; start: number; length: number }, signal?: AbortSignal): Promise<string> {
    const exchange = await this.transport.send({
      method: 'PATCH',
      path: location,
      scopes: [pushScope(repository)],
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${chunk.start}-${chunk.start + chunk.length - 1}`,
        'Content-Length': String(chunk.length),
      },
      body: chunk.body,
      signal,
    });
    return this.uploadLocation(exchange, `a chunk of an upload to ${repository}`);
  }

  /** Commits an upload under `digest` (PUT), with its last bytes when given; the registry verifies the digest. */
  async completeUpload(repository: string, location: string, digest: string, last?: { body: AsyncIterable<Uint8Array> | Buffer; length: number }, signal?: AbortSignal): Promise<void> {
    const url = this.transport.resolve(location);
    url.searchParams.set('digest', digest);
    const exchange = await this.transport.send({
      method: 'PUT',
      path: url.href,
      scopes: [pushScope(repository)],
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(last?.length ?? 0) },
      body: last?.body ?? Buffer.alloc(0),
      signal,
    });
    if (exchange.response.status !== 201 && !exchange.response.ok) throw await this.transport.failure(exchange, `committing blob ${digest} to ${repository}`);
    await exchange.discard();
  }

  /** Every tag of a repository, following `Link` pages; undefined when the repository does not exist. */
  async listTags(repository: string, signal?: AbortSignal): Promise<string[] | undefined> {
    const pages = await this.listPages(`/v2/${encodeName(repository)}/tags/list?n=${listingPageSize}`, [pullScope(repository)], 'tags', signal);
    return pages;
  }

  /**
   * Every repository of the registry (`/v2/_catalog`, following `Link` pages). Rejects with the
   * registry's error where it offers no catalog or not to us (Docker Hub, ghcr.io, most clouds).
   */
  async catalog(signal?: AbortSignal): Promise<string[]> {
    const repositories = await this.listPages(`/v2/_catalog?n=${listingPageSize}`, ['registry:catalog:*'], 'repositories', signal);
    if (!repositories) throw new UpstreamProtocolError(this.base, `${this.base} offers no catalog (/v2/_catalog answered 404)`, 404);
    return repositories;
  }

  private async listPages(first: string, scopes: string[], field: 'tags' | 'repositories', signal: AbortSignal | undefined): Promise<string[] | undefined> {
    const names: string[] = [];
    let next: string | undefined = first;
    while (next) {
      const exchange: Exchange = await this.transport.send({ method: 'GET', path: next, scopes, accept: ['application/json'], signal });
      if (exchange.response.status === 404) return exchange.discard().then(() => undefined);
      if (!exchange.response.ok) throw await this.transport.failure(exchange, field === 'tags' ? 'the tag list' : 'the catalog');
      const page = parseJsonObject(await exchange.readCapped(maxListingBytes, `the ${field} listing`))?.[field];
      if (Array.isArray(page)) names.push(...page.filter((name): name is string => typeof name === 'string'));
      next = nextPage(exchange.response.headers.get('link'), this.transport.resolve(next));
    }
    return names;
  }

  private async uploadLocation(exchange: Exchange, what: string): Promise<string> {
    if (exchange.response.status !== 202 && !exchange.response.ok) throw await this.transport.failure(exchange, what);
    await exchange.discard();
    const location = exchange.response.headers.get('location');
    if (!location) throw new UpstreamProtocolError(this.base, `${this.base} answered ${what} without a Location`, exchange.response.status);
    return this.transport.resolve(location).href;
  }
}

/** The Accept list for manifests of every kind a client may meet: OCI and Docker, images and indexes. */
export const manifestAccept = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
];

/** `Link: </v2/…?last=x&n=100>; rel="next"` → the next page's URL (relative links resolve against the current page). */
function nextPage(link: string | null, current: URL): string | undefined {
  const match = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(link ?? '');
  return match ? new URL(match[1]!, current).href : undefined;
}

/** `Range: 0-N` → N+1 bytes received. `0-0` is read as nothing yet: registries write it for an empty session too. */
function rangeEnd(range: string | null): number {
  const match = /^(?:bytes=)?0-(\d+)$/.exec(range?.trim() ?? '');
  const end = match ? Number(match[1]) : 0;
  return end > 0 ? end + 1 : 0;
}

async function* skipBytes(body: AsyncIterable<Uint8Array>, count: number): AsyncGenerator<Uint8Array> {
  let left = count;
  for await (const chunk of body) {
    if (left >= chunk.length) {
      left -= chunk.length;
      continue;
    }
    yield left > 0 ? chunk.subarray(left) : chunk;
    left = 0;
  }
}

/** The Content-Type, unless it says nothing about manifests; then the manifest's own `mediaType` field. */
function manifestMediaType(headers: Headers, bytes: Buffer): string {
  const declared = contentType(headers);
  if (!genericContentTypes.has(declared)) return declared;
  const field = parseJsonObject(bytes)?.mediaType;
  return typeof field === 'string' && field ? field : declared;
}

function contentType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

export function pushScope(repository: string): string {
  return `repository:${repository}:pull,push`;
}

function manifestPath(repository: string, reference: string): string {
  return `/v2/${encodeName(repository)}/manifests/${encodeURIComponent(reference)}`;
}

function blobPath(repository: string, digest: string): string {
  return `/v2/${encodeName(repository)}/blobs/${encodeURIComponent(digest)}`;
}

function encodeName(repository: string): string {
  return repository.split('/').map(encodeURIComponent).join('/');
}
