import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants as zlib, createGzip } from 'node:zlib';
import tar from 'tar-stream';

/**
 * Writes OCI image layouts (image-spec `image-layout.md`) for tests and benchmarks: random,
 * gzip-compressed tar layers, a config, an image manifest per platform and, for several
 * platforms, an image index. Layers are streamed to disk, so sizes may exceed memory.
 */

export const mediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** The annotation by which `oci:DIR:TAG` references find an entry of index.json. */
const refNameAnnotation = 'org.opencontainers.image.ref.name';
const chunkBytes = 256 * 1024;
/** Fixed so that only the random payload, not the clock, makes each layer unique. */
const layerMtime = new Date('2024-01-01T00:00:00Z');

export interface Platform {
  os: string;
  architecture: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface GeneratedLayer extends Descriptor {
  /** Digest of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: string;
}

export interface GeneratedImage {
  platform: Platform;
  manifest: Descriptor;
  config: Descriptor;
  layers: GeneratedLayer[];
}

export interface GeneratedLayout {
  dir: string;
  /** The tag written into index.json: `oci:${dir}:${tag}` names the image. */
  tag: string;
  /** What the tag points at: the image index when several platforms were asked for, else the image manifest. */
  top: Descriptor;
  images: GeneratedImage[];
}

export interface OciLayoutOptions {
  /** Directory to write into (created if missing). */
  dir: string;
  tag?: string;
  /** Layers per image. */
  layers: number;
  /** Uncompressed random payload per layer, in bytes. */
  layerBytes: number;
  /** One platform writes a plain image; more write an image index over one image per platform. */
  platforms?: Platform[];
  /** zlib level for the layers; random data does not compress, so the fastest level is the default. */
  gzipLevel?: number;
}

export const twoPlatforms: Platform[] = [
  { os: 'linux', architecture: 'amd64' },
  { os: 'linux', architecture: 'arm64' },
];

export async function writeOciLayout(options: OciLayoutOptions): Promise<GeneratedLayout> {
  const platforms = options.platforms ?? [{ os: 'linux', architecture: 'amd64' }];
  if (platforms.length === 0) throw new Error('an OCI layout needs at least one platform');
  const tag = options.tag ?? 'latest';
  const blobs = new BlobDirectory(options.dir);
  await blobs.create();

  const images: GeneratedImage[] = [];
  for (const platform of platforms) {
    const layers: GeneratedLayer[] = [];
    for (let i = 0; i < options.layers; i++) {
      layers.push(await blobs.writeLayer(`${platform.architecture}-layer-${i}`, options.layerBytes, options.gzipLevel ?? zlib.Z_BEST_SPEED));
    }
    images.push(await writeImage(blobs, platform, layers));
  }

  const top = images.length === 1 ? images[0]!.manifest : await writeIndex(blobs, images);
  const layoutIndex = { schemaVersion: 2, mediaType: mediaTypes.index, manifests: [{ ...top, annotations: { [refNameAnnotation]: tag } }] };
  await writeFile(join(options.dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(options.dir, 'index.json'), JSON.stringify(layoutIndex));
  return { dir: options.dir, tag, top, images };
}

/** The layout's tagged image as containers/image names it (`skopeo copy oci:DIR:TAG …`). */
export function ociReference(layout: GeneratedLayout): string {
  return `oci:${layout.dir}:${layout.tag}`;
}

async function writeImage(blobs: BlobDirectory, platform: Platform, layers: GeneratedLayer[]): Promise<GeneratedImage> {
  const config = await blobs.writeJson(mediaTypes.config, {
    created: layerMtime.toISOString(),
    ...platform,
    config: { Env: ['PATH=/bin'] },
    rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.diffId) },
    history: layers.map((_, i) => ({ created: layerMtime.toISOString(), created_by: `berth test layer ${i}` })),
  });
  const manifest = await blobs.writeJson(mediaTypes.manifest, {
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    config,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
  });
  return { platform, manifest, config, layers };
}

function writeIndex(blobs: BlobDirectory, images: GeneratedImage[]): Promise<Descriptor> {
  return blobs.writeJson(mediaTypes.index, {
    schemaVersion: 2,
    mediaType: mediaTypes.index,
    manifests: images.map((image) => ({ ...image.manifest, platform: image.platform })),
  });
}

/** `blobs/sha256/` of a layout: content lands in a temporary file and is renamed to its digest. */
class BlobDirectory {
  private readonly root: string;

  constructor(layoutDir: string) {
    this.root = join(layoutDir, 'blobs', 'sha256');
  }

  create(): Promise<string | undefined> {
    return mkdir(this.root, { recursive: true });
  }

  async writeJson(mediaType: string, value: unknown): Promise<Descriptor> {
    const bytes = Buffer.from(JSON.stringify(value));
    const hex = createHash('sha256').update(bytes).digest('hex');
    await writeFile(join(this.root, hex), bytes);
    return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
  }

  /** A tar holding one file of `bytes` random bytes, gzipped; digests are computed while streaming. */
  async writeLayer(name: string, bytes: number, gzipLevel: number): Promise<GeneratedLayer> {
    const temporary = join(this.root, `.partial-${randomUUID()}`);
    const uncompressed = new DigestTap();
    const compressed = new DigestTap();
    const pack = tar.pack();
    const written = pipeline(pack, uncompressed, createGzip({ level: gzipLevel }), compressed, createWriteStream(temporary));
    const entry = pack.entry({ name: `${name}/random.bin`, size: bytes, mode: 0o644, mtime: layerMtime, uid: 0, gid: 0 });
    await pipeline(Readable.from(randomChunks(bytes)), entry);
    pack.finalize();
    await written;
    await rename(temporary, join(this.root, compressed.hex()));
    return { mediaType: mediaTypes.layer, digest: `sha256:${compressed.hex()}`, size: compressed.bytes, diffId: `sha256:${uncompressed.hex()}` };
  }
}

/** Passes data through unchanged, hashing and counting it. */
class DigestTap extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  hex(): string {
    return this.hash.copy().digest('hex');
  }
}

function* randomChunks(total: number): Generator<Buffer> {
  for (let left = total; left > 0; left -= chunkBytes) yield randomBytes(Math.min(chunkBytes, left));
}
