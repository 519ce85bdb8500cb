import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Server } from 'node:http';
import { ApiFace } from '../api/api-face.ts';
import { toolboxRoutes } from '../api/toolbox-routes.ts';
import { toolboxOperations } from '../toolbox/operations.ts';
import { identityRoutes } from '../api/identity-routes.ts';
import type { BerthConfig } from '../config/schema.ts';
import { openDatabase, type OpenedDatabase } from '../db/database.ts';
import { AccessKeys } from '../identity/access-keys.ts';
import { ensureAdmin, type BootstrapResult } from '../identity/bootstrap.ts';
import { IdentityStore } from '../identity/identity-store.ts';
import { SecretBox } from '../secrets/secret-box.ts';
import { composeBuilder } from './compose-builder.ts';
import { composeConnect } from './compose-connect.ts';
import { composeStudios } from './compose-studios.ts';
import { composeRegistry } from './compose-registry.ts';
import { createHttpServer, listen } from './http-server.ts';

export interface BerthServer {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  port: number;
  bootstrap: BootstrapResult;
  database: OpenedDatabase;
  close(): Promise<void>;
}

/**
 * Builds every part in dependency order (storage → identity → registry → faces), starts the one
 * listener and the periodic jobs. The only place that knows all the parts.
 */
export async function startServer(config: BerthConfig, log: (line: string) => void = console.log): Promise<BerthServer> {
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const database = await openDatabase({ url: config.database.url, sqlitePath: join(dataDir, 'berth.sqlite') });
  const closers: Array<() => Promise<void>> = [() => database.close()];
  try {
    const identity = new IdentityStore(database.db);
    const bootstrap = await ensureAdmin(identity, { dataDir, adminToken: config.auth.adminToken });
    const secrets = await SecretBox.open({ secret: config.auth.secretKey, keyFile: join(dataDir, 'secret.key') });
    const accessKeys = new AccessKeys(database.db, identity, secrets);
    const registry = await composeRegistry({ config: config.registry, server: config.server, dataDir, database, identity, accessKeys, secrets, log });
    closers.unshift(registry.close);
    let internalHost = '';
    const builder = composeBuilder({
      config: config.builder,
      server: config.server,
      dataDir,
      database,
      identity,
      registry: registry.domain,
      internalHost: () => internalHost,
      log,
    });
    closers.unshift(builder.close);
    const connect = await composeConnect({
      config: config.connect,
      auth: config.auth,
      server: config.server,
      dataDir,
      database,
      identity,
      internalHost: () => internalHost,
      log,
    });
    closers.unshift(connect.close);
    const studios = await composeStudios({
      config: config.studios,
      builder: config.builder,
      connect: config.connect,
      server: config.server,
      dataDir,
      database,
      identity,
      registry: registry.domain,
      builds: builder.builds,
      targets: builder.targets,
      sessions: connect.sessions,
      hub: connect.hub,
      routing: connect.routing,
      registryRegion: config.registry.region,
      internalHost: () => internalHost,
      log,
    });
    closers.unshift(studios.close);
    const toolbox = toolboxRoutes({
      identity,
      operations: toolboxOperations,
      ecr: registry.ecr,
      tokens: registry.domain.tokens,
      credentials: registry.domain.credentials,
      region: config.registry.region,
      loginTtlS: config.registry.ecrLoginTtlS,
      internalHost: () => internalHost,
      publicUrl: config.server.publicUrl,
    });
    const api = new ApiFace(identity, [...identityRoutes(identity, accessKeys), ...registry.apiRoutes, ...builder.apiRoutes, ...connect.apiRoutes, ...studios.apiRoutes, ...toolbox]);

    let ready = false;
    const server = createHttpServer({
      registry: registry.oci,
      api,
      ecr: registry.ecr,
      wave: builder.wave,
      studios: connect.proxy,
      upgrade: connect.upgrade,
      login: connect.login,
      isReady: () => ready,
      log,
    });
    closers.unshift(async () => {
      await connect.close(); // upgraded connections keep the listener from closing
      await closeServer(server);
    });
    const address = await listen(server, config.server.host, config.server.port);
    internalHost = `${loopbackOf(address.address)}:${address.port}`;

    const guarded = (name: string, work: () => Promise<unknown>) => () => work().catch((error) => log(`${name} failed: ${(error as Error).message}`));
    await guarded('startup', registry.startup)();
    await guarded('build recovery', builder.startup)();
    await guarded('session recovery', studios.startup)();
    for (const job of [...registry.jobs, ...connect.jobs, ...studios.jobs]) {
      if (job.everyS <= 0) continue;
      const timer = setInterval(guarded(job.name, job.run), job.everyS * 1000);
      timer.unref();
      closers.unshift(async () => clearInterval(timer));
    }
    ready = true;
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    return { url: `http://${host}:${address.port}`, port: address.port, bootstrap, database, close: () => closeAll(closers) };
  } catch (error) {
    await closeAll(closers);
    throw error;
  }
}

/** Where processes on this host reach the listener: loopback, unless it is bound to one address only. */
function loopbackOf(bound: string): string {
  if (bound === '0.0.0.0' || bound === '::') return '127.0.0.1';
  return bound.includes(':') ? `[${bound}]` : bound;
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
