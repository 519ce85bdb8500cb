import type { ECRClient } from '@aws-sdk/client-ecr';
import type { ProgressEvent, RegistryLogin, ToolboxContext } from '../../../src/toolbox/toolbox-operation.ts';
import { skopeo } from '../../support/containers.ts';
import { ociReference, type GeneratedLayout } from '../../support/oci-image.ts';

/** A toolbox context as a face on the user's machine would give it: logins per host, progress collected. */
export function cloneContext(logins: Record<string, RegistryLogin>, options: { events?: ProgressEvent[]; signal?: AbortSignal } = {}): ToolboxContext {
  return {
    registryLogin: async (host) => logins[host],
    ecrClient: (): ECRClient => {
      throw new Error('clone does not use ECR');
    },
    progress: (event) => options.events?.push(event),
    localFiles: true,
    signal: options.signal,
  };
}

function credsFlag(login: RegistryLogin | undefined): string[] {
  return login ? ['--creds', `${login.username}:${login.password}`] : [];
}

/** A manifest's bytes exactly as the registry serves them (`skopeo inspect --raw`). */
export async function rawManifest(reference: string, login?: RegistryLogin): Promise<string> {
  return (await skopeo(['inspect', '--raw', '--tls-verify=false', ...credsFlag(login), `docker://${reference}`])).stdout;
}

/** Pushes an OCI layout to `reference` (host/repository:tag) with skopeo, every platform, digests kept. */
export async function pushLayout(layout: GeneratedLayout, reference: string, login?: RegistryLogin): Promise<void> {
  const auth = login ? ['--dest-creds', `${login.username}:${login.password}`] : [];
  await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', ...auth, ociReference(layout), `docker://${reference}`]);
}
