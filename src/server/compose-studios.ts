import { join } from 'node:path';
import type { ApiRoute } from '../api/api-face.ts';
import { gitLogin, httpsRepository } from '../api/git-sources.ts';
import { studioRoutes, type StudioCatalog } from '../api/studio-routes.ts';
import type { BuildService } from '../builder/builds/build-service.ts';
import { repositoryContainerRequest } from '../builder/builds/studio-request.ts';
import type { BuildTargets } from '../builder/builds/build-targets.ts';
import { buildPlanLimitsOf } from '../builder/studio-config/studio-source.ts';
import type { BuilderConfig, ConnectConfig, ServerConfig, StudiosConfig } from '../config/schema.ts';
import type { ConnectSessions } from '../connect/connect-sessions.ts';
import type { StudioRouting } from '../connect/proxy/studio-routing.ts';
import type { TunnelHub } from '../connect/tunnel/tunnel-hub.ts';
import type { OpenedDatabase } from '../db/database.ts';
import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import { splitRegistryHost } from '../registry/names.ts';
import { prepareAgentBundle } from '../studios/runners/agent-kit.ts';
import { SessionBuilds } from '../studios/sessions/session-builds.ts';
import { SessionController, type SessionCompute } from '../studios/sessions/session-controller.ts';
import { SessionLogs } from '../studios/sessions/session-logs.ts';
import { StudioStore, type Studio, type StudioRun } from '../studios/sessions/studio-store.ts';
import { StudiosAccess } from '../studios/workspaces/studios-access.ts';
import { StudioSettings } from '../studios/workspaces/studio-settings.ts';
import { TemplateCatalog } from '../studios/templates/templates.ts';
import { ComputeEnvs } from '../studios/compute/compute-envs.ts';
import { ComputeRunners, registryLoginFor } from '../studios/compute/runner-factory.ts';
import { computeEnvRoutes } from '../api/compute-env-routes.ts';
import { credentialRoutes } from '../api/credential-routes.ts';
import { orgRoutes } from '../api/org-routes.ts';
import { templateRoutes } from '../api/template-routes.ts';
import { doctorRoutes } from '../api/doctor-routes.ts';
import { berthDoctorDeps } from '../toolbox/doctor/berth-doctor-deps.ts';
import type { PeriodicJob } from './compose-registry.ts';
import type { RegistryDomain } from './compose-registry.ts';

export interface StudiosPart {
  apiRoutes: ApiRoute[];
  jobs: PeriodicJob[];
  /** Settles what a previous run left (sessions running, dead or half-started); call once the listener is up. */
  startup: () => Promise<void>;
  close: () => Promise<void>;
}

/**
 * The studios part: workspaces' Studios settings, templates, compute environments and their runners, studios
 * and the session controller that drives them, fed by the agents' reports from the tunnel hub.
 */
export async function composeStudios(deps: {
  config: StudiosConfig;
  builder: BuilderConfig;
  connect: ConnectConfig;
  server: ServerConfig;
  dataDir: string;
  database: OpenedDatabase;
  identity: IdentityStore;
  registry: RegistryDomain;
  builds: BuildService;
  targets: BuildTargets;
  sessions: ConnectSessions;
  hub: TunnelHub;
  routing: StudioRouting;
  /** `127.0.0.1:<port>` once listening. */
  internalHost: () => string;
  /** The region Berth's registry names in ARNs (registry.region), for the doctor's region and policy checks. */
  registryRegion?: string;
  log: (line: string) => void;
}): Promise<StudiosPart> {
  const { config, identity, database } = deps;
  const access = new StudiosAccess(config);
  const settings = new StudioSettings(database.db, config);
  const templates = await TemplateCatalog.load(config);
  const { credentials } = deps.registry;
  const runners = new ComputeRunners({ dataDir: deps.dataDir, credentials });
  const computeEnvs = new ComputeEnvs({ db: database.db, credentials, runners });
  const store = new StudioStore(database.db);
  const workDir = join(deps.dataDir, 'studios');

  const workspaceOf = async (studio: Studio): Promise<Workspace> => (await identity.findWorkspaceById(studio.workspaceId))!;
  const runnerOf = async (computeEnvId: string): Promise<SessionCompute | undefined> => {
    const env = await computeEnvs.get(computeEnvId);
    if (!env) return undefined;
    const runner = await runners.runnerOf(env);
    return { id: env.id, name: env.name, platform: env.platform, unavailable: env.status === 'AVAILABLE' ? null : (env.statusReason ?? 'not available'), runner };
  };
  const localRegistry = (image: string) => {
    const host = splitRegistryHost(image).registry;
    return host === deps.internalHost() || host === 'localhost' + deps.internalHost().slice(deps.internalHost().indexOf(':'));
  };
  const planLimits = buildPlanLimitsOf(deps.builder);

  const builds = new SessionBuilds({
    builds: deps.builds,
    targets: deps.targets,
    limits: deps.builder,
    workspaceSlug: async (studio) => (await workspaceOf(studio)).slug,
    buildTarget: async (studio) => {
      const { containerRepository, nameStrategy } = await settings.effective(await workspaceOf(studio), deps.internalHost());
      // a repository without a host is in Berth's own registry
      const buildRepository = splitRegistryHost(containerRepository!).registry ? containerRepository! : `${deps.internalHost()}/${containerRepository}`;
      return { buildRepository, ...(nameStrategy && { nameStrategy }) };
    },
    repositoryRequest: async (studio, target) => {
      const remote = studio.definition.remoteConfig!;
      const url = httpsRepository(remote.repository);
      const login = await gitLogin(deps.registry.credentials, await workspaceOf(studio), url, remote.credentialsId ?? undefined);
      return repositoryContainerRequest({ url, revision: remote.revision ?? undefined, login, options: target, limits: { ...deps.builder, ...planLimits }, workDir: join(workDir, 'checkouts') });
    },
  });

  const logs = new SessionLogs(join(workDir, 'logs'));
  const controller = new SessionController({
    store,
    logs,
    sessions: deps.sessions,
    builds,
    compute: runnerOf,
    tool: (studio) => ({ hostCommand: templates.resolve(studio.definition.templateKey ?? studio.definition.image ?? '').template.hostCommand }),
    agentEnvironment: async (studio, platform, agentToken) => {
      const internal = `http://${deps.internalHost()}`;
      const connectUrl = platform === 'kubernetes' ? (deps.connect.advertiseUrl ?? deps.server.publicUrl ?? internal) : internal;
      const env: Record<string, string> = { BERTH_CONNECT_URL: connectUrl, BERTH_SESSION_ID: studio.sessionId, BERTH_SESSION_TOKEN: agentToken };
      if (deps.routing.pathRouting) env.CONNECT_TOOL_PATH_PREFIX = deps.routing.toolPathPrefix(studio.sessionId);
      return env;
    },
    pullCredentials: async (image: string, run: StudioRun) => {
      if (!localRegistry(image)) {
        // another registry: the compute environment's registry credential, when it is for that registry
        const env = await computeEnvs.get(run.computeEnvId);
        const login = env && (await registryLoginFor(env, { dataDir: deps.dataDir, credentials }));
        return login && login.registry === splitRegistryHost(image).registry ? { username: login.username, password: login.password } : null;
      }
      const user = await identity.findUserById(run.startedBy);
      if (!user) return null;
      const password = await deps.registry.tokens.issueEcrLogin({ userId: user.id, credential: run.credential }, user.name, 3_600);
      return { username: 'AWS', password };
    },
    lifespanHours: async (studio) => {
      if (studio.definition.configuration.lifespanHours !== null) return studio.definition.configuration.lifespanHours;
      const { lifespanHours } = await settings.effective(await workspaceOf(studio), deps.internalHost());
      return lifespanHours ?? config.defaultLifespanHours;
    },
    names: async (studio) => ({ workspaceSlug: (await workspaceOf(studio)).slug, userName: (await identity.findUserById(studio.userId))?.name ?? 'unknown' }),
    config,
    log: deps.log,
  });
  const unsubscribe = deps.hub.onAgentEvent((sessionId, event) => controller.onAgentEvent(sessionId, event));

  const catalog: StudioCatalog = {
    template: (keyOrImage) => {
      const found = templates.find(keyOrImage);
      return found && { key: found.template.key, image: found.image, view: found.view };
    },
    computeEnv: async (workspaceId, reference) => {
      const env = reference ? await computeEnvs.findByRef(workspaceId, reference) : await computeEnvs.defaultFor(workspaceId);
      return env && { id: env.id, name: env.name, platform: env.platform };
    },
    computeEnvById: async (id) => {
      const env = await computeEnvs.get(id);
      return env && { id: env.id, name: env.name, platform: env.platform };
    },
    privateByDefault: async (workspace) => (await settings.effective(workspace, deps.internalHost())).privateStudioByDefault,
  };

  let bundling: Promise<void> = Promise.resolve();
  return {
    apiRoutes: [
      // before the studio routes: `/api/studios/templates` is not a studio
      ...templateRoutes({ identity, catalog: templates, studiosAllowed: (workspace) => access.allows(workspace) }),
      ...studioRoutes({ store, controller, builds, sessions: deps.sessions, identity, routing: deps.routing, access, catalog, publicUrl: deps.server.publicUrl }),
      ...computeEnvRoutes({ identity, credentials, computeEnvs }),
      ...orgRoutes({ identity, settings, publicUrl: deps.server.publicUrl }),
      ...credentialRoutes({ identity, credentials }),
      ...doctorRoutes({
        identity,
        doctor: berthDoctorDeps({ db: database.db, identity, access, settings, credentials, computeEnvs, index: deps.registry.index, studios: store, templates, connect: deps.connect, publicUrl: deps.server.publicUrl, internalHost: deps.internalHost, registryRegion: deps.registryRegion }),
      }),
    ],
    jobs: [
      { name: 'session reconcile', everyS: config.reconcileIntervalS, run: () => controller.reconcile() },
      { name: 'compute environment checks', everyS: config.computeCheckIntervalS, run: () => computeEnvs.recheckAll() },
    ],
    startup: async () => {
      // made now rather than by the first session start that needs it (esbuild takes a moment)
      bundling = prepareAgentBundle(join(deps.dataDir, 'agent-kit')).then(
        () => undefined,
        (error: Error) => deps.log(`studios: the agent bundle cannot be made (${error.message}); local sessions run the agent from source`),
      );
      const admin = await identity.findWorkspace('admin');
      if (admin && access.allows(admin)) await computeEnvs.ensureDefaultLocal(admin);
      await controller.reconcile();
    },
    close: async () => {
      unsubscribe();
      await bundling; // it writes into the data directory
    },
  };
}
