import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Digest } from '../../registry/digest.ts';
import { isRegistryError } from '../../registry/errors.ts';
import type { Registry } from '../../registry/registry.ts';
import type { Repository } from '../../registry/repository-index.ts';
import type { Uploads } from '../../registry/uploads.ts';
import { AugmentError } from './augment-errors.ts';
import { packDirectory } from './directory-tar.ts';
import { isTarHeader, LayerEncoder, sniffLayer, type LayerBlob } from './layer-encoding.ts';

/**
 * A layer to add, as a caller has it:
 * - `directory`: its contents become the layer, packed reproducibly (see `packDirectory`);
 * - `tar`: a tar file, or a gzip-compressed one (told apart by its first bytes);
 * - `stream`: the same as a byte stream, read once;
 * - `blob`: a blob already pushed to the target repository (a tar or tar+gzip), used as it is.
 * The first three are gzip-compressed on the way in and uploaded into the target repository.
 */
export type LayerInput =
  | { kind: 'directory'; path: string }
  | { kind: 'tar'; path: string }
  | { kind: 'stream'; stream: AsyncIterable<Uint8Array> }
  | { kind: 'blob'; digest: Digest };

/** Checks that path inputs exist and are of the right type, before anything is written. */
export async function checkLayerInputs(inputs: LayerInput[]): Promise<void> {
  for (const input of inputs) {
    if (input.kind !== 'directory' && input.kind !== 'tar') continue;
    const found = await stat(input.path).catch(() => undefined);
    if (!found) throw new AugmentError('LayerNotFound', `layer ${input.kind} ${input.path} does not exist`);
    if (input.kind === 'directory' && !found.isDirectory()) throw new AugmentError('LayerNotFound', `layer directory ${input.path} is not a directory`);
    if (input.kind === 'tar' && !found.isFile()) throw new AugmentError('LayerNotFound', `layer tar ${input.path} is not a file`);
  }
}

/** Where layers go: the target repository, through the registry's own upload and read paths. */
export interface LayerTarget {
  registry: Registry;
  uploads: Uploads;
  repository: Repository;
}

/** Stores (or, for `blob`, inspects) one layer in the target repository. */
export async function storeLayer(target: LayerTarget, input: LayerInput): Promise<LayerBlob> {
  switch (input.kind) {
    case 'directory':
      return uploadLayer(target, packDirectory(input.path));
    case 'tar':
      return uploadLayer(target, createReadStream(input.path));
    case 'stream':
      return uploadLayer(target, input.stream);
    case 'blob':
      return inspectPushedLayer(target, input.digest);
  }
}

/** Encodes the layer while it streams into a new upload, and commits it under the digest computed on the way. */
export async function uploadLayer(target: LayerTarget, source: AsyncIterable<Uint8Array>): Promise<LayerBlob> {
  const encoder = new LayerEncoder();
  await uploadBlob(target, encoder.encode(source), () => encoder.result().digest);
  return encoder.result();
}

/** Stores bytes as a blob of the repository; `digest` is asked for once the source is consumed. */
export async function uploadBlob(target: LayerTarget, source: AsyncIterable<Uint8Array>, digest: () => Digest): Promise<{ digest: Digest; size: number }> {
  const { uploads, repository } = target;
  const id = await uploads.start(repository);
  try {
    await uploads.append(repository, id, source);
    const known = digest();
    return { digest: known, size: await uploads.complete(repository, id, known) };
  } catch (error) {
    await uploads.cancel(repository, id).catch(() => undefined);
    throw error;
  }
}

/**
 * A layer the caller pushed into the target repository. A plain tar is checked by its first block
 * and used uncompressed (its digest is its diffID); a gzip blob is inflated once, to check it and
 * compute its diffID. Only this blob is read, never a base layer.
 */
async function inspectPushedLayer(target: LayerTarget, digest: Digest): Promise<LayerBlob> {
  const { registry, repository } = target;
  const size = await registry.blobSize(repository, digest).catch((error: unknown) => {
    if (isRegistryError(error, 'BlobUnknown')) throw new AugmentError('LayerNotFound', `layer blob ${digest} is not in the target repository: push it there first`);
    throw error;
  });
  const head = size === 0 ? Buffer.alloc(0) : await collect(await registry.openBlob(repository, digest, { start: 0, end: Math.min(size, 512) - 1 }));
  if (sniffLayer(head) === 'gzip') {
    const encoder = new LayerEncoder();
    for await (const chunk of encoder.encode(await registry.openBlob(repository, digest))) void chunk;
    return { ...encoder.result(), digest, size };
  }
  if (!isTarHeader(head)) throw new AugmentError('LayerInvalid', `layer blob ${digest} is neither a tar archive nor a gzip-compressed one`);
  return { digest, size, diffId: digest, compressed: false };
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}
