import { RegistryClient, type RegistryBlob, type RegistryClientOptions, type RegistryManifest, type RegistryManifestHead } from '../client/registry-client.ts';

export { parseChallenge } from '../client/registry-transport.ts';

export type UpstreamOptions = RegistryClientOptions;
export type UpstreamManifest = RegistryManifest;
export type UpstreamManifestHead = RegistryManifestHead;
export type UpstreamBlob = RegistryBlob;

/**
 * A client for one upstream OCI registry, as the pull-through cache needs it: manifests (HEAD
 * first, to spare rate limits), blobs as streams, and a ping that says what is wrong. It is the
 * shared `RegistryClient` (src/registry/client/) under the pull-through's user agent; the cache
 * uses only its read side. Failures are the typed errors of `upstream-errors.ts`; a request
 * aborted through its signal rejects with the signal's reason.
 */
export class UpstreamRegistry extends RegistryClient {
  constructor(options: UpstreamOptions) {
    super({ ...options, userAgent: options.userAgent ?? 'berth-pullthrough' });
  }
}
