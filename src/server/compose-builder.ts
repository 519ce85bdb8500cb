import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { ApiRoute } from '../api/api-face.ts';
import { buildRoutes } from '../api/build-routes.ts';
import { imageRoutes } from '../api/image-routes.ts';
import { studioConfigRoutes } from '../api/studio-config-routes.ts';
import { BuildLogs } from '../builder/builds/build-logs.ts';
import { BuildService } from '../builder/builds/build-service.ts';
import { BuildStore } from '../builder/builds/build-store.ts';
import { BuildTargets } from '../builder/builds/build-targets.ts';
import { BuildahExecutor } from '../builder/executors/buildah-executor.ts';
import type { BuildExecutor } from '../builder/executors/build-executor.ts';
import { DockerExecutor } from '../builder/executors/docker-executor.ts';
import { WaveFace } from '../builder/wave/wave-face.ts';
import type { BuilderConfig, ServerConfig } from '../config/schema.ts';
import type { OpenedDatabase } from '../db/database.ts';
import type { IdentityStore } from '../identity/identity-store.ts';
import type { RegistryDomain } from './compose-registry.ts';
import type { Face } from './http-server.ts';

export interface BuilderPart {
  wave: Face;
  /** For the studios part: sessions' builds go through the same service and targets. */
  builds: BuildService;
  targets: BuildTargets;
  apiRoutes: ApiRoute[];
  /** Re-queues builds a previous run left unfinished; call once the listener is up (executors push to it). */
  startup: () => Promise<unknown>;
  close: () => Promise<void>;
}

/** The builder part: build records and logs, the executor, the queue, its Wave face and its API routes (builds, augmentation, studio-config checks). */
export function composeBuilder(deps: {
  config: BuilderConfig;
  server: ServerConfig;
  dataDir: string;
  database: OpenedDatabase;
  identity: IdentityStore;
  registry: RegistryDomain;
  /** `127.0.0.1:<port>` once listening. */
  internalHost: () => string;
  log: (line: string) => void;
}): BuilderPart {
  const { config } = deps;
  const logs = new BuildLogs(join(deps.dataDir, 'builds', 'logs'));
  const { credentials } = deps.registry;
  const targets = new BuildTargets({
    registry: deps.registry.registry,
    identity: deps.identity,
    access: deps.registry.access,
    tokens: deps.registry.tokens,
    credentials,
    internalHost: deps.internalHost,
    localHosts: () => (deps.server.publicUrl ? [new URL(deps.server.publicUrl).host] : []),
    loginTtlS: config.timeoutS + 600,
  });
  const builds = new BuildService({
    store: new BuildStore(deps.database.db),
    logs,
    targets,
    identity: deps.identity,
    executor: chooseExecutor(config, join(deps.dataDir, 'builds', 'buildah')),
    config,
    workDir: join(deps.dataDir, 'builds', 'work'),
    log: deps.log,
  });
  return {
    builds,
    targets,
    wave: new WaveFace({ builds, logs, identity: deps.identity, limits: config, publicUrl: deps.server.publicUrl }),
    apiRoutes: [
      ...buildRoutes({ builds, logs, identity: deps.identity, credentials, config, publicUrl: deps.server.publicUrl, workDir: join(deps.dataDir, 'builds', 'work') }),
      ...imageRoutes({ ...deps.registry, publicUrl: deps.server.publicUrl }),
      ...studioConfigRoutes({ identity: deps.identity, credentials, builder: config }),
    ],
    startup: () => builds.recover(),
    close: () => builds.close(),
  };
}

/** `auto` means buildah where it is installed (it needs no daemon), else the docker engine. */
function chooseExecutor(config: BuilderConfig, buildahRoot: string): BuildExecutor {
  const kind = config.executor === 'auto' ? (hasBuildah() ? 'buildah' : 'docker') : config.executor;
  const failureTailLines = config.logTailLines;
  return kind === 'buildah' ? new BuildahExecutor({ stateDir: buildahRoot, failureTailLines }) : new DockerExecutor({ socketPath: config.dockerSocket, failureTailLines });
}

function hasBuildah(): boolean {
  return spawnSync('buildah', ['--version'], { stdio: 'ignore' }).status === 0;
}
