import { join } from 'node:path';
import { registryRoutes } from '../api/registry-routes.ts';
import type { ApiRoute } from '../api/api-face.ts';
import type { RegistryConfig, ServerConfig } from '../config/schema.ts';
import type { OpenedDatabase } from '../db/database.ts';
import type { AccessKeys } from '../identity/access-keys.ts';
import type { IdentityStore } from '../identity/identity-store.ts';
import { RegistryAccess } from '../registry/auth/access.ts';
import { Logins } from '../registry/auth/logins.ts';
import { RegistryTokens } from '../registry/auth/registry-tokens.ts';
import { loadOrCreateSigningKey } from '../registry/auth/signing-key.ts';
import { DigestLocks } from '../registry/digest-locks.ts';
import { EcrFace } from '../registry/ecr/ecr-face.ts';
import { EcrScope } from '../registry/ecr/operation-kit.ts';
import { authorizationOperations } from '../registry/ecr/operations/authorization.ts';
import { imageOperations } from '../registry/ecr/operations/images.ts';
import { lifecycleOperations } from '../registry/ecr/operations/lifecycle.ts';
import { policyOperations } from '../registry/ecr/operations/policies.ts';
import { repositoryOperations } from '../registry/ecr/operations/repositories.ts';
import { GarbageCollector } from '../registry/garbage-collector.ts';
import { ImageCatalog } from '../registry/management/image-catalog.ts';
import { Lifecycle } from '../registry/management/lifecycle.ts';
import { Policies } from '../registry/management/policies.ts';
import { OciFace } from '../registry/oci/oci-face.ts';
import { TokenEndpoint } from '../registry/oci/token-endpoint.ts';
import { Registry } from '../registry/registry.ts';
import { RepositoryIndex } from '../registry/repository-index.ts';
import type { BlobStore } from '../registry/storage/blob-store.ts';
import { FsBlobStore } from '../registry/storage/fs-blob-store.ts';
import { Uploads } from '../registry/uploads.ts';
import type { Face } from './http-server.ts';

/** Blob store implementations by configuration name; S3 joins this map later. */
const blobStores: Record<'fs', (dataDir: string) => Promise<BlobStore>> = {
  fs: (dataDir) => FsBlobStore.open({ root: join(dataDir, 'registry') }),
};

export interface RegistryPart {
  oci: Face;
  ecr: Face;
  apiRoutes: ApiRoute[];
  /** Periodic work, each with its interval in seconds (0 = never). */
  jobs: Array<{ name: string; everyS: number; run: () => Promise<unknown> }>;
  /** Work to do once before the server reports ready. */
  startup: () => Promise<unknown>;
}

/** The registry part: storage, metadata, domain services and its two faces (OCI and ECR). */
export async function composeRegistry(deps: {
  config: RegistryConfig;
  server: ServerConfig;
  dataDir: string;
  database: OpenedDatabase;
  identity: IdentityStore;
  accessKeys: AccessKeys;
}): Promise<RegistryPart> {
  const { config, database, identity, accessKeys } = deps;
  const blobs = await blobStores.fs(deps.dataDir);
  const index = new RepositoryIndex(database.db, database.kind);
  const locks = new DigestLocks();
  const uploads = new Uploads(database.db, blobs, index, locks);
  const registry = new Registry({ identity, index, blobs, locks, maxManifestBytes: config.maxManifestBytes });
  const policies = new Policies(database.db, index);
  const access = new RegistryAccess(identity, index, policies, config.region);
  const key = await loadOrCreateSigningKey(join(deps.dataDir, 'keys', 'registry-token.pem'));
  const tokens = new RegistryTokens(key, config.service, config.tokenTtlS, config.refreshTokenTtlS);
  const logins = new Logins(identity, accessKeys, tokens);
  const gc = new GarbageCollector(database.db, blobs, uploads, locks);
  const catalog = new ImageCatalog(database.db, index);
  const lifecycle = new Lifecycle(database.db, index, catalog);

  const oci = new OciFace({ registry, uploads, access, maxManifestBytes: config.maxManifestBytes }, logins, tokens, new TokenEndpoint(logins, access, tokens), {
    service: config.service,
    publicUrl: deps.server.publicUrl,
  });
  const scope = new EcrScope(identity, index, access);
  const ecr = new EcrFace(
    identity,
    accessKeys,
    {
      ...repositoryOperations(scope, index),
      ...imageOperations(scope, registry, catalog),
      ...lifecycleOperations(scope, lifecycle),
      ...policyOperations(scope, policies),
      ...authorizationOperations(tokens, config.ecrLoginTtlS, deps.server.publicUrl),
    },
    { publicUrl: deps.server.publicUrl, region: config.region },
  );
  const sweepUploads = () => uploads.sweepStale(Date.now() - config.uploadExpiryS * 1000);
  return {
    oci,
    ecr,
    apiRoutes: registryRoutes({ identity, index, gc, lifecycle, config }),
    jobs: [
      { name: 'stale upload sweep', everyS: config.maintenanceIntervalS, run: sweepUploads },
      { name: 'lifecycle policies', everyS: config.lifecycleIntervalS, run: () => lifecycle.run() },
    ],
    startup: sweepUploads,
  };
}
