import type { CredentialRecord } from '../../registry/management/credentials.ts';
import type { PolicyDocument, PolicyKind } from '../../registry/policy/iam-policy.ts';
import type { CacheRule } from '../../registry/pullthrough/cache-rules.ts';
import type { StudioDefinition } from '../../studios/sessions/studio-store.ts';
import type { StudioTemplate } from '../../studios/templates/templates.ts';

/** A workspace as the doctor needs it. */
export interface DoctorWorkspace {
  id: string;
  slug: string;
  registryId: string;
}

/** A compute environment as the doctor sees it: never its secrets. */
export interface DoctorComputeEnv {
  id: string;
  name: string;
  platform: 'local' | 'docker' | 'kubernetes';
  status: 'AVAILABLE' | 'INVALID';
  statusReason: string | null;
  /** The workspace credential it uses, by name (docker: a registry login; kubernetes: the cluster token). */
  credentialName: string | null;
  /** Where it runs, when that is known (an EKS cluster's region); undefined otherwise. */
  region?: string;
  /** What it talks to: a docker environment's engine socket, a kubernetes environment's API server. */
  endpoint?: string;
}

/** A studio as the doctor looks at it. */
export interface DoctorStudio {
  sessionId: string;
  name: string;
  userId: string;
  computeEnvId: string | null;
  definition: Pick<StudioDefinition, 'templateKey' | 'image' | 'remoteConfig' | 'isPrivate'>;
}

/**
 * What the doctor reads of Berth's state: the narrowest view of each part, so that checks can be
 * followed (and tested) without the whole server. Only `revealCredential` returns a secret, for the
 * one check that must try a login (a pull-through rule's upstream).
 */
export interface DoctorDeps {
  /** Whether `studios.allowedWorkspaces` lets the workspace use Studios. */
  studiosEnabled(workspace: DoctorWorkspace): boolean;
  /** The repository studios' images are built into (Studios setting `containerRepository`, or its default); null when none. */
  containerRepository(workspace: DoctorWorkspace): Promise<string | null>;
  /** Host names (with port) that mean Berth's own registry; the first is the one shown in fixes. */
  ownRegistryHosts(): string[];
  /** The region Berth's registry names in ARNs (`registry.region`), when known. */
  registryRegion: string | undefined;
  /** Where `aws ecr … --endpoint-url` reaches Berth, for fixes. */
  ecrEndpoint(): string;
  credentials(workspaceId: string): Promise<CredentialRecord[]>;
  revealCredential(workspaceId: string, name: string): Promise<{ username: string; password: string }>;
  computeEnvs(workspaceId: string): Promise<DoctorComputeEnv[]>;
  findWorkspace(slug: string): Promise<DoctorWorkspace | undefined>;
  /** A repository of Berth's registry by workspace and path (undefined: it does not exist yet). */
  repository(workspaceId: string, path: string): Promise<{ isPublic: boolean; policyText: string | null } | undefined>;
  policyDocument(text: string, kind: PolicyKind): PolicyDocument;
  cacheRules(workspace: DoctorWorkspace): Promise<CacheRule[]>;
  /** Resolves when the registry at `url` answers `/v2/` with these credentials; rejects saying what is wrong. */
  pingUpstream(url: string, credentials: { username: string; password: string } | undefined): Promise<void>;
  studios(workspaceId: string): Promise<DoctorStudio[]>;
  routing: { studioDomain: string; pathRouting: boolean; publicUrl: string | undefined };
  templates(): readonly StudioTemplate[];
  /** The version of the session agent this Berth ships. */
  agentVersion: string;
  /** Resolves a host name (dns.lookup); rejects when it does not resolve. */
  lookupHost(name: string): Promise<string>;
  /** Resolves when a TLS handshake with `host:port` succeeds and the certificate is valid for `servername`. */
  probeTls(host: string, port: number, servername: string): Promise<void>;
}

/** Who asks: what a check shows depends on it (another workspace's policy only to those who may read it). */
export interface DoctorCaller {
  userId: string;
  isAdmin: boolean;
  /** Whether the caller may read this workspace's registry settings (view role or above). */
  mayView(workspaceId: string): Promise<boolean>;
}

export interface DoctorOptions {
  workspace: DoctorWorkspace;
  caller: DoctorCaller;
}
