import type { Db } from '../../db/database.ts';
import type { IdentityStore } from '../../identity/identity-store.ts';
import type { Credentials } from '../../registry/management/credentials.ts';
import { Policies } from '../../registry/management/policies.ts';
import { CacheRules } from '../../registry/pullthrough/cache-rules.ts';
import { UpstreamRegistry } from '../../registry/pullthrough/upstream-registry.ts';
import type { RepositoryIndex } from '../../registry/repository-index.ts';
import type { ComputeEnv, ComputeEnvs } from '../../studios/compute/compute-envs.ts';
import type { StudioStore } from '../../studios/sessions/studio-store.ts';
import type { TemplateCatalog } from '../../studios/templates/templates.ts';
import type { StudiosAccess } from '../../studios/workspaces/studios-access.ts';
import type { StudioSettings } from '../../studios/workspaces/studio-settings.ts';
import { shippedAgentVersion } from './agent-version-checks.ts';
import type { DoctorComputeEnv, DoctorDeps } from './doctor-deps.ts';
import { lookupHost, probeTls } from './network-probes.ts';

/** More studios than this in one workspace are not looked at one by one. */
const maxStudios = 1_000;
const eksRegion = /\.([a-z]{2}(?:-gov)?-[a-z]+-\d)\.eks\.amazonaws\.com(?::\d+)?$/;

/** The doctor's view of a running Berth, from its real parts. */
export function berthDoctorDeps(parts: {
  db: Db;
  identity: IdentityStore;
  access: StudiosAccess;
  settings: StudioSettings;
  credentials: Credentials;
  computeEnvs: ComputeEnvs;
  index: RepositoryIndex;
  studios: StudioStore;
  templates: TemplateCatalog;
  connect: { studioDomain: string; pathRouting: boolean };
  publicUrl: string | undefined;
  /** `127.0.0.1:<port>` once listening. */
  internalHost: () => string;
  registryRegion: string | undefined;
}): DoctorDeps {
  const policies = new Policies(parts.db, parts.index);
  const cacheRules = new CacheRules(parts.db);
  const publicHost = parts.publicUrl ? new URL(parts.publicUrl).host : undefined;
  const ownRegistryHosts = () => {
    const internal = parts.internalHost();
    const port = internal.slice(internal.lastIndexOf(':'));
    return [...new Set([...(publicHost ? [publicHost] : []), internal, `localhost${port}`])];
  };
  return {
    studiosEnabled: (workspace) => parts.access.allows(workspace),
    containerRepository: async (workspace) => (await parts.settings.effective(workspace, parts.internalHost())).containerRepository,
    ownRegistryHosts,
    registryRegion: parts.registryRegion,
    ecrEndpoint: () => `${parts.publicUrl?.replace(/\/+$/, '') ?? `http://${parts.internalHost()}`}/ecr`,
    credentials: (workspaceId) => parts.credentials.records(workspaceId),
    revealCredential: (workspaceId, name) => parts.credentials.reveal(workspaceId, name),
    computeEnvs: async (workspaceId) => (await parts.computeEnvs.list(workspaceId)).map(doctorViewOf),
    findWorkspace: (slug) => parts.identity.findWorkspace(slug),
    repository: async (workspaceId, path) => {
      const repository = await parts.index.find(workspaceId, path);
      return repository && { isPublic: repository.isPublic, policyText: repository.policyText };
    },
    policyDocument: (text, kind) => policies.document(text, kind),
    cacheRules: async (workspace) => {
      const full = await parts.identity.findWorkspaceById(workspace.id);
      return full ? cacheRules.list(full) : [];
    },
    pingUpstream: (url, credentials) => new UpstreamRegistry({ url, credentials }).ping(),
    studios: async (workspaceId) => (await parts.studios.list({ workspaceId, max: maxStudios, offset: 0 })).studios,
    routing: { studioDomain: parts.connect.studioDomain, pathRouting: parts.connect.pathRouting, publicUrl: parts.publicUrl },
    templates: () => parts.templates.all(),
    agentVersion: shippedAgentVersion(),
    lookupHost,
    probeTls,
  };
}

function doctorViewOf(env: ComputeEnv): DoctorComputeEnv {
  const region = env.platform === 'kubernetes' ? eksRegion.exec(new URL(env.config.server).host)?.[1] : undefined;
  return {
    id: env.id,
    name: env.name,
    platform: env.platform,
    status: env.status,
    statusReason: env.statusReason,
    credentialName: env.credentialName,
    ...(region === undefined ? {} : { region }),
    ...(env.platform === 'docker' ? { endpoint: env.config.socket } : env.platform === 'kubernetes' ? { endpoint: env.config.server } : {}),
  };
}
