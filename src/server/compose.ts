import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { ApiFace } from '../api/api-face.ts';
import { identityRoutes } from '../api/identity-routes.ts';
import { registryRoutes } from '../api/registry-routes.ts';
import type { BerthConfig } from '../config/schema.ts';
import { openDatabase, type OpenedDatabase } from '../db/database.ts';
import { ensureAdmin, type BootstrapResult } from '../identity/bootstrap.ts';
import { IdentityStore } from '../identity/identity-store.ts';
import { RegistryAccess } from '../registry/auth/access.ts';
import { RegistryTokens } from '../registry/auth/registry-tokens.ts';
import { loadOrCreateSigningKey } from '../registry/auth/signing-key.ts';
import { DigestLocks } from '../registry/digest-locks.ts';
import { GarbageCollector } from '../registry/garbage-collector.ts';
import { OciFace } from '../registry/oci/oci-face.ts';
import { TokenEndpoint } from '../registry/oci/token-endpoint.ts';
import { Registry } from '../registry/registry.ts';
import { RepositoryIndex } from '../registry/repository-index.ts';
import type { BlobStore } from '../registry/storage/blob-store.ts';
import { FsBlobStore } from '../registry/storage/fs-blob-store.ts';
import { Uploads } from '../registry/uploads.ts';
import { createHttpServer, listen } from './http-server.ts';

export interface BerthServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  bootstrap: BootstrapResult;
  database: OpenedDatabase;
  close(): Promise<void>;
}

/** Blob store implementations by configuration name; S3 joins this map later. */
const blobStores: Record<'fs', (dataDir: string) => Promise<BlobStore>> = {
  fs: (dataDir) => FsBlobStore.open({ root: join(dataDir, 'registry') }),
};

/**
 * Builds every part in dependency order (storage → identity → registry → faces), starts the one
 * listener and the maintenance timer. The only place that knows all the parts.
 */
export async function startServer(config: BerthConfig, log: (line: string) => void = console.log): Promise<BerthServer> {
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const database = await openDatabase({ url: config.database.url, sqlitePath: join(dataDir, 'berth.sqlite') });
  const closers: Array<() => Promise<void>> = [() => database.close()];
  try {
    const identity = new IdentityStore(database.db);
    const bootstrap = await ensureAdmin(identity, { dataDir, adminToken: config.auth.adminToken });

    const blobs = await blobStores.fs(dataDir);
    const index = new RepositoryIndex(database.db, database.kind);
    const locks = new DigestLocks();
    const uploads = new Uploads(database.db, blobs, index, locks);
    const registry = new Registry({ identity, index, blobs, locks, maxManifestBytes: config.registry.maxManifestBytes });
    const access = new RegistryAccess(identity, index);
    const key = await loadOrCreateSigningKey(join(dataDir, 'keys', 'registry-token.pem'));
    const tokens = new RegistryTokens(key, config.registry.service, config.registry.tokenTtlS, config.registry.refreshTokenTtlS);
    const gc = new GarbageCollector(database.db, blobs, uploads, locks);

    const oci = new OciFace(
      { registry, uploads, access, maxManifestBytes: config.registry.maxManifestBytes },
      identity,
      tokens,
      new TokenEndpoint(identity, access, tokens),
      { service: config.registry.service, publicUrl: config.server.publicUrl },
    );
    const api = new ApiFace(identity, [...identityRoutes(identity), ...registryRoutes({ identity, index, gc, config: config.registry })]);

    let ready = false;
    const server = createHttpServer({ registry: oci, api, isReady: () => ready, log });
    closers.unshift(() => closeServer(server));
    const address = await listen(server, config.server.host, config.server.port);

    const sweep = () =>
      uploads.sweepStale(Date.now() - config.registry.uploadExpiryS * 1000).catch((error) => log(`upload sweep failed: ${(error as Error).message}`));
    await sweep();
    if (config.registry.maintenanceIntervalS > 0) {
      const timer = setInterval(sweep, config.registry.maintenanceIntervalS * 1000);
      timer.unref();
      closers.unshift(async () => clearInterval(timer));
    }
    ready = true;
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    return {
      url: `http://${host}:${address.port}`,
      port: address.port,
      bootstrap,
      database,
      close: () => closeAll(closers),
    };
  } catch (error) {
    await closeAll(closers);
    throw error;
  }
}

async function closeAll(closers: Array<() => Promise<void>>): Promise<void> {
  for (const close of closers.splice(0)) await close().catch(() => undefined);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
