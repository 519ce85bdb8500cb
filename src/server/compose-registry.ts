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
import { loadOrCreateSigningKey } from '../secrets/signing-key.ts';
import { DigestLocks } from '../registry/digest-locks.ts';
import { EcrFace } from '../registry/ecr/ecr-face.ts';
import { EcrScope } from '../registry/ecr/operation-kit.ts';
import { authorizationOperations } from '../registry/ecr/operations/authorization.ts';
import { imageOperations } from '../registry/ecr/operations/images.ts';
import { lifecycleOperations } from '../registry/ecr/operations/lifecycle.ts';
import { policyOperations } from '../registry/ecr/operations/policies.ts';
import { pullThroughOperations } from '../registry/ecr/operations/pull-through.ts';
import { repositoryOperations } from '../registry/ecr/operations/repositories.ts';
import { GarbageCollector } from '../registry/garbage-collector.ts';
import { ImageCatalog } from '../registry/management/image-catalog.ts';
import { Lifecycle } from '../registry/management/lifecycle.ts';
import { Policies } from '../registry/management/policies.ts';
import { CreationTemplates } from '../registry/management/creation-templates.ts';
import { Credentials } from '../registry/management/credentials.ts';
import { BlobFills } from '../registry/pullthrough/blob-fill.ts';
import { CacheRules, type CacheRule } from '../registry/pullthrough/cache-rules.ts';
import { PullThroughRegistry } from '../registry/pullthrough/pull-through-registry.ts';
import { UpstreamRegistry } from '../registry/pullthrough/upstream-registry.ts';
import type { SecretBox } from '../secrets/secret-box.ts';
import { OciFace } from '../registry/oci/oci-face.ts';
import { TokenEndpoint } from '../registry/oci/token-endpoint.ts';
import type { Registry } from '../registry/registry.ts';
import { RepositoryIndex } from '../registry/repository-index.ts';
import type { BlobStore } from '../registry/storage/blob-store.ts';
import { FsBlobStore } from '../registry/storage/fs-blob-store.ts';
import { Uploads } from '../registry/uploads.ts';
import type { Face } from './http-server.ts';

/** Blob store implementations by configuration name; S3 joins this map later. */
const blobStores: Record<'fs', (dataDir: string) => Promise<BlobStore>> = {
  fs: (dataDir) => FsBlobStore.open({ root: join(dataDir, 'registry') }),
};

/** Work the server repeats every `everyS` seconds (0: never). */
export interface PeriodicJob {
  name: string;
  everyS: number;
  run: () => Promise<unknown>;
}

export interface RegistryPart {
  oci: Face;
  ecr: EcrFace;
  apiRoutes: ApiRoute[];
  /** Periodic work, each with its interval in seconds (0 = never). */
  jobs: PeriodicJob[];
  /** Work to do once before the server reports ready. */
  startup: () => Promise<unknown>;
  /** Ends work in flight (cache fills). */
  close: () => Promise<void>;
  /** The domain services other parts (the builder) use in-process, below any face. */
  domain: RegistryDomain;
}

export interface RegistryDomain {
  registry: Registry;
  uploads: Uploads;
  index: RepositoryIndex;
  access: RegistryAccess;
  tokens: RegistryTokens;
  /** Workspace credentials (upstream and push logins, git tokens), sealed at rest. */
  credentials: Credentials;
}

/** The registry part: storage, metadata, domain services and its two faces (OCI and ECR). */
export async function composeRegistry(deps: {
  config: RegistryConfig;
  server: ServerConfig;
  dataDir: string;
  database: OpenedDatabase;
  identity: IdentityStore;
  accessKeys: AccessKeys;
  secrets: SecretBox;
  log: (line: string) => void;
}): Promise<RegistryPart> {
  const { config, database, identity, accessKeys } = deps;
  const blobs = await blobStores.fs(deps.dataDir);
  const index = new RepositoryIndex(database.db, database.kind);
  const locks = new DigestLocks();
  const uploads = new Uploads(database.db, blobs, index, locks);
  const credentials = new Credentials(database.db, deps.secrets);
  const templates = new CreationTemplates(database.db);
  const rules = new CacheRules(database.db);
  const fills = new BlobFills(blobs, { locks });
  const registry = new PullThroughRegistry(
    {
      identity,
      index,
      blobs,
      locks,
      maxManifestBytes: config.maxManifestBytes,
      newRepositorySettings: (workspaceId, path) => templates.settingsFor(workspaceId, path, 'CREATE_ON_PUSH'),
    },
    { rules, credentials, templates, fills, revalidateAfterMs: config.pullThroughRevalidateS * 1000, log: deps.log },
  );
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
      ...pullThroughOperations(scope, rules, credentials, templates, (rule) => checkUpstream(rule, credentials)),
      ...authorizationOperations(tokens, config.ecrLoginTtlS, deps.server.publicUrl),
    },
    { publicUrl: deps.server.publicUrl, region: config.region },
  );
  const sweepUploads = () => uploads.sweepStale(Date.now() - config.uploadExpiryS * 1000);
  return {
    oci,
    ecr,
    apiRoutes: registryRoutes({ identity, index, gc, lifecycle, credentials, config }),
    jobs: [
      { name: 'stale upload sweep', everyS: config.maintenanceIntervalS, run: sweepUploads },
      { name: 'lifecycle policies', everyS: config.lifecycleIntervalS, run: () => lifecycle.run() },
    ],
    startup: sweepUploads,
    close: () => fills.close(),
    domain: { registry, uploads, index, access, tokens, credentials },
  };
}

/** ValidatePullThroughCacheRule: can Berth reach the upstream and log in with the rule's credential? */
async function checkUpstream(rule: CacheRule, credentials: Credentials): Promise<{ isValid: true } | { isValid: false; failure: string }> {
  try {
    const login = rule.credentialName ? await credentials.reveal(rule.workspaceId, rule.credentialName) : undefined;
    await new UpstreamRegistry({ url: rule.upstreamBase, credentials: login, timeoutMs: 10_000 }).ping();
    return { isValid: true };
  } catch (error) {
    return { isValid: false, failure: (error as Error).message };
  }
}
