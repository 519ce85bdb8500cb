import { run } from '../../test/support/processes.ts';
import { ociReference, type GeneratedLayout } from '../../test/support/oci-image.ts';
import type { BenchRegistry } from '../support/registries.ts';

const skopeoTimeoutMs = 60 * 60 * 1000;

/**
 * Pushes the layout's image with skopeo. `--preserve-digests` makes skopeo fail rather than
 * silently recompress a layer, so both registries receive exactly the layout's bytes.
 */
export async function pushImage(registry: BenchRegistry, image: GeneratedLayout, repository: string): Promise<void> {
  await run(
    'skopeo',
    [
      'copy',
      '--quiet',
      '--preserve-digests',
      '--dest-tls-verify=false',
      ...registry.destinationFlags,
      ociReference(image),
      `docker://${registry.host}/${repository}:${image.tag}`,
    ],
    { timeoutMs: skopeoTimeoutMs },
  );
}

/** Pulls the image into a `dir:` directory: blobs land as files, byte for byte, with digests checked. */
export async function pullImage(registry: BenchRegistry, repository: string, tag: string, destination: string): Promise<void> {
  await run(
    'skopeo',
    ['copy', '--quiet', '--src-tls-verify=false', ...registry.sourceFlags, `docker://${registry.host}/${repository}:${tag}`, `dir:${destination}`],
    { timeoutMs: skopeoTimeoutMs },
  );
}

/**
 * Deletes the image's manifest and unlinks its blobs from the repository, so that the next
 * repetition uploads every byte again: skopeo remembers where it saw each blob and would
 * otherwise mount it from the previous repository instead of sending it.
 */
export async function deleteImage(registry: BenchRegistry, image: GeneratedLayout, repository: string): Promise<void> {
  const [generated] = image.images;
  if (!generated) throw new Error('the layout has no image');
  const authorization = registry.adminAuthorization();
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  const remove = async (path: string) => {
    const response = await fetch(`http://${registry.host}/v2/${repository}/${path}`, { method: 'DELETE', headers });
    await response.arrayBuffer();
    if (response.status !== 202) throw new Error(`${registry.label}: DELETE ${path} answered ${response.status}`);
  };
  await remove(`manifests/${generated.manifest.digest}`);
  for (const blob of [generated.config, ...generated.layers]) await remove(`blobs/${blob.digest}`);
}
