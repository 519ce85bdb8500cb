import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { basic, type TestBerth } from '../../support/berth.ts';

/**
 * Small building blocks for the OCI protocol tests: a client bound to one server and one identity,
 * digests computed independently of the product, and pushes of blobs and manifests in one call.
 */

export const mediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export type DigestAlgorithm = 'sha256' | 'sha512';

/** The digest of `bytes`, computed here rather than by the code under test. */
export function digestOf(bytes: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

export function randomBlob(size = 1024): Buffer {
  return randomBytes(size);
}

/** A fresh repository path segment, so tests sharing one server never collide. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export function descriptorOf(mediaType: string, bytes: Buffer, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: digestOf(bytes), size: bytes.length, ...extra };
}

/** JSON bytes as a client would send them. */
export function jsonBytes(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** Reads a whole response body as bytes. */
export async function bodyOf(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer());
}

/**
 * Asserts the spec's error response: the status, and (except for HEAD) the body
 * `{"errors":[{"code","message","detail"}]}` with `code` first. Returns the first error.
 */
export async function expectOciError(
  response: Response,
  status: number,
  code: string,
): Promise<{ code: string; message: string; detail: unknown }> {
  const text = await response.text();
  assert.equal(response.status, status, `expected ${status} ${code}, got ${response.status}: ${text}`);
  if (text === '') return { code, message: '', detail: null }; // HEAD: headers only
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
  const body = JSON.parse(text) as { errors?: Array<Record<string, unknown>> };
  assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `no errors array in ${text}`);
  const first = body.errors[0]!;
  assert.deepEqual(Object.keys(first).sort(), ['code', 'detail', 'message'], `error entry keys in ${text}`);
  assert.equal(first.code, code, text);
  assert.equal(typeof first.message, 'string');
  return first as { code: string; message: string; detail: unknown };
}

export interface PushedBlob {
  digest: string;
  bytes: Buffer;
}

export interface PushedManifest {
  digest: string;
  bytes: Buffer;
  mediaType: string;
  /** Descriptor of this manifest, for an index or a `subject`. */
  descriptor: Descriptor;
}

export interface ImageOptions {
  /** Where to push: a tag, else the manifest's digest. */
  tag?: string;
  flavour?: 'oci' | 'docker';
  layers?: number;
  configMediaType?: string;
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface IndexOptions {
  tag?: string;
  flavour?: 'oci' | 'docker';
  artifactType?: string;
  subject?: Descriptor;
}

type Headers = Record<string, string>;

export interface RequestOptions {
  method?: string;
  headers?: Headers;
  /** A stream is sent with chunked transfer encoding (no Content-Length). */
  body?: Buffer | string | ReadableStream<Uint8Array>;
}

/**
 * A registry client for one server and one identity (an Authorization header, or none for
 * anonymous). Paths are relative to the server; absolute URLs (Location, Link) are followed as given.
 */
export class OciClient {
  constructor(
    readonly server: { url: string },
    readonly authorization?: string,
  ) {}

  /** The same server, as another identity. */
  as(authorization?: string): OciClient {
    return new OciClient(this.server, authorization);
  }

  url(path: string): string {
    return new URL(path, this.server.url).toString();
  }

  fetch(path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Headers = { ...(this.authorization ? { Authorization: this.authorization } : {}), ...options.headers };
    const streamed = options.body instanceof ReadableStream;
    return fetch(this.url(path), {
      method: options.method,
      headers,
      body: options.body as BodyInit | undefined,
      redirect: 'manual',
      ...(streamed ? { duplex: 'half' } : {}),
    });
  }

  /** Starts an upload session and returns its Location. */
  async startUpload(repository: string): Promise<string> {
    const response = await this.fetch(`/v2/${repository}/blobs/uploads/`, { method: 'POST' });
    assert.equal(response.status, 202, await response.text());
    const location = response.headers.get('location');
    assert.ok(location, 'POST to uploads returned no Location');
    return location;
  }

  /** PATCHes one chunk that starts at byte `start` of the upload. */
  patchChunk(location: string, chunk: Buffer, start: number): Promise<Response> {
    return this.fetch(location, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${start}-${start + chunk.length - 1}` },
      body: chunk,
    });
  }

  /** The closing PUT of an upload, optionally with a last chunk. */
  completeUpload(location: string, digest: string, lastChunk?: Buffer): Promise<Response> {
    return this.fetch(withQuery(location, { digest }), { method: 'PUT', headers: { 'Content-Type': 'application/octet-stream' }, body: lastChunk });
  }

  /** Pushes `bytes` monolithically (POST then PUT with the digest) and returns the digest. */
  async pushBlob(repository: string, bytes: Buffer = randomBlob()): Promise<PushedBlob> {
    const digest = digestOf(bytes);
    const response = await this.completeUpload(await this.startUpload(repository), digest, bytes);
    assert.equal(response.status, 201, await response.text());
    return { digest, bytes };
  }

  /** Status of a HEAD on the blob: 200 when the repository serves it. */
  async blobStatus(repository: string, digest: string): Promise<number> {
    return (await this.fetch(`/v2/${repository}/blobs/${digest}`, { method: 'HEAD' })).status;
  }

  async listTags(repository: string): Promise<string[]> {
    const response = await this.fetch(`/v2/${repository}/tags/list`);
    assert.equal(response.status, 200);
    return ((await response.json()) as { tags: string[] }).tags;
  }

  putManifest(repository: string, reference: string, bytes: Buffer, contentType: string): Promise<Response> {
    return this.fetch(`/v2/${repository}/manifests/${reference}`, { method: 'PUT', headers: { 'Content-Type': contentType }, body: bytes });
  }

  /** Pushes exact manifest bytes and asserts 201 with the right digest. */
  async pushManifestBytes(repository: string, bytes: Buffer, mediaType: string, tag?: string): Promise<PushedManifest> {
    const digest = digestOf(bytes);
    const response = await this.putManifest(repository, tag ?? digest, bytes, mediaType);
    assert.equal(response.status, 201, await response.text());
    assert.equal(response.headers.get('docker-content-digest'), digest);
    return { digest, bytes, mediaType, descriptor: { mediaType, digest, size: bytes.length } };
  }

  /** Pushes a config, `layers` random layers and an image manifest over them. */
  async pushImage(repository: string, options: ImageOptions = {}): Promise<PushedManifest> {
    const docker = options.flavour === 'docker';
    const configBytes = jsonBytes({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: uniqueName('c') });
    const config = await this.pushBlob(repository, configBytes);
    const layers: Descriptor[] = [];
    for (let i = 0; i < (options.layers ?? 1); i++) {
      const layer = await this.pushBlob(repository);
      layers.push(descriptorOf(docker ? mediaTypes.dockerLayer : mediaTypes.ociLayer, layer.bytes));
    }
    const mediaType = docker ? mediaTypes.dockerManifest : mediaTypes.ociManifest;
    const manifest = {
      schemaVersion: 2,
      mediaType,
      ...(options.artifactType ? { artifactType: options.artifactType } : {}),
      config: descriptorOf(options.configMediaType ?? (docker ? mediaTypes.dockerConfig : mediaTypes.ociConfig), config.bytes),
      layers,
      ...(options.subject ? { subject: options.subject } : {}),
      ...(options.annotations ? { annotations: options.annotations } : {}),
    };
    return this.pushManifestBytes(repository, jsonBytes(manifest), mediaType, options.tag);
  }

  /** Pushes an index (OCI) or manifest list (Docker) over manifests already in the repository. */
  async pushIndex(repository: string, children: Descriptor[], options: IndexOptions = {}): Promise<PushedManifest> {
    const mediaType = options.flavour === 'docker' ? mediaTypes.dockerManifestList : mediaTypes.ociIndex;
    const index = {
      schemaVersion: 2,
      mediaType,
      ...(options.artifactType ? { artifactType: options.artifactType } : {}),
      manifests: children.map((child) => ({ ...child, platform: { architecture: 'amd64', os: 'linux' } })),
      ...(options.subject ? { subject: options.subject } : {}),
    };
    return this.pushManifestBytes(repository, jsonBytes(index), mediaType, options.tag);
  }
}

/** A client as the system administrator (whose API token every test server shares). */
export function adminClient(server: { url: string; adminToken: string }): OciClient {
  return new OciClient(server, basic('admin', server.adminToken));
}

/** Creates a user (with its personal workspace) and returns a client authenticated as them. */
export async function userClient(berth: TestBerth, name: string, scopes?: string[]): Promise<OciClient> {
  return new OciClient(berth, basic(name, await berth.user(name, scopes)));
}

/** Creates a workspace owned by the administrator. */
export async function createWorkspace(berth: TestBerth, slug: string): Promise<void> {
  const created = await berth.api('POST', '/api/workspaces', { slug });
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

/** `url` with query parameters added, keeping any it already has. */
export function withQuery(url: string, params: Record<string, string>): string {
  const parsed = new URL(url, 'http://relative.invalid');
  for (const [key, value] of Object.entries(params)) parsed.searchParams.set(key, value);
  return url.startsWith('/') ? `${parsed.pathname}${parsed.search}` : parsed.toString();
}
