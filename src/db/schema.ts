import type { Generated } from 'kysely';

/**
 * Tables as the query layer sees them. Times are milliseconds since the epoch (integers) and
 * booleans are 0/1 so that SQLite and PostgreSQL store and return the same values.
 */
export interface Database {
  users: UsersTable;
  organizations: OrganizationsTable;
  workspaces: WorkspacesTable;
  memberships: MembershipsTable;
  api_tokens: ApiTokensTable;
  repositories: RepositoriesTable;
  blobs: BlobsTable;
  repository_blobs: RepositoryBlobsTable;
  manifests: ManifestsTable;
  manifest_refs: ManifestRefsTable;
  tags: TagsTable;
  uploads: UploadsTable;
  access_keys: AccessKeysTable;
  credentials: CredentialsTable;
  registry_policies: RegistryPoliciesTable;
  pull_through_rules: PullThroughRulesTable;
  creation_templates: CreationTemplatesTable;
  lifecycle_previews: LifecyclePreviewsTable;
  builds: BuildsTable;
  connect_sessions: ConnectSessionsTable;
  web_logins: WebLoginsTable;
  compute_envs: ComputeEnvsTable;
  workspace_settings: WorkspaceSettingsTable;
  studios: StudiosTable;
  studio_events: StudioEventsTable;
}

export interface UsersTable {
  id: string;
  name: string;
  is_admin: number;
  created_at: number;
}

export interface OrganizationsTable {
  id: string;
  name: string;
  created_at: number;
}

export interface WorkspacesTable {
  id: string;
  slug: string;
  organization_id: string | null;
  /** Set for a user's personal workspace. */
  personal_user_id: string | null;
  /** 12-digit id: the workspace is one "registry" in ECR terms. */
  registry_id: string;
  created_at: number;
}

export interface MembershipsTable {
  workspace_id: string;
  user_id: string;
  role: string;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  token_hash: string;
  /** JSON array of scopes. */
  scopes: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
}

export interface RepositoriesTable {
  id: string;
  workspace_id: string;
  /** Path inside the workspace, e.g. `tools/x` of `admin/tools/x`. */
  name: string;
  is_public: number;
  created_at: number;
  /** MUTABLE or IMMUTABLE (ECR's imageTagMutability). */
  image_tag_mutability: Generated<string>;
  scan_on_push: Generated<number>;
  /** AES256 or KMS (recorded; blobs are encrypted by the storage underneath). */
  encryption_type: Generated<string>;
  kms_key: string | null;
  /** JSON array of {Key, Value}. */
  resource_tags: string | null;
  policy_text: string | null;
  lifecycle_policy_text: string | null;
  /** Set when the repository caches an upstream through a pull-through cache rule. */
  upstream_rule_id: string | null;
}

export interface BlobsTable {
  digest: string;
  size: number;
  /** Last write or link; garbage collection spares recent blobs. */
  touched_at: number;
}

export interface RepositoryBlobsTable {
  repository_id: string;
  digest: string;
}

export interface ManifestsTable {
  repository_id: string;
  digest: string;
  media_type: string;
  size: number;
  artifact_type: string | null;
  subject_digest: string | null;
  /** JSON object or null: annotations shown in the referrers index. */
  annotations: string | null;
  pushed_at: number;
  last_pulled_at: number | null;
  /** When scan-on-push asked for a scan (no scanner runs yet). */
  scan_requested_at: number | null;
}

export interface ManifestRefsTable {
  repository_id: string;
  manifest_digest: string;
  /** A config, layer or child manifest the manifest needs. */
  digest: string;
}

export interface TagsTable {
  repository_id: string;
  name: string;
  manifest_digest: string;
  updated_at: number;
  /** For pull-through tags: when the upstream was last asked about this tag. */
  upstream_checked_at: number | null;
}

export interface UploadsTable {
  id: string;
  repository_id: string;
  started_at: number;
  touched_at: number;
}

/** ECR-style access key pairs: SigV4 needs the secret itself, so it is stored sealed (encrypted). */
export interface AccessKeysTable {
  id: string;
  user_id: string;
  workspace_id: string;
  secret_sealed: string;
  created_at: number;
  last_used_at: number | null;
}

/** Secrets Berth uses on a workspace's behalf (e.g. upstream registry logins), sealed. */
export interface CredentialsTable {
  id: string;
  workspace_id: string;
  name: string;
  kind: string;
  username: string | null;
  /** Sealed secret; JSON of the secret fields for providers with more than one. */
  secret_sealed: string;
  /** JSON of the provider's non-secret fields (registry host, access key id, role ARN…); null for old rows. */
  fields: string | null;
  created_at: number;
  updated_at: number | null;
}

export interface RegistryPoliciesTable {
  workspace_id: string;
  policy_text: string;
  updated_at: number;
}

export interface PullThroughRulesTable {
  id: string;
  workspace_id: string;
  /** ecrRepositoryPrefix: repositories below `<workspace>/<prefix>/` come from the upstream. */
  prefix: string;
  upstream_url: string;
  /** docker-hub, quay, ecr-public, github-container-registry, k8s, gitlab, or generic. */
  upstream_registry: string;
  upstream_prefix: string | null;
  credential_name: string | null;
  created_at: number;
  updated_at: number;
}

export interface CreationTemplatesTable {
  workspace_id: string;
  /** Repository prefix the template applies to, or ROOT for all. */
  prefix: string;
  /** JSON of the template's settings as the ECR API names them. */
  definition: string;
  created_at: number;
  updated_at: number;
}

export interface LifecyclePreviewsTable {
  repository_id: string;
  policy_text: string;
  /** JSON of the preview's results. */
  result: string;
  created_at: number;
}

export interface BuildsTable {
  /** `bd-<container id>_<attempt>`, as Wave names builds. */
  id: string;
  /** Hash of what determines the image: Dockerfile, conda file, platform, target repository, context. */
  container_id: string;
  workspace_id: string;
  user_id: string;
  /** The requester's credential; the executor's registry login derives from it and ends with it. */
  credential_kind: 'api-token' | 'access-key';
  credential_id: string;
  /** pending, building, succeeded, failed or cancelled. */
  status: string;
  executor: string | null;
  target_image: string;
  /** 1: pushed to Berth's own registry, `push_image` without a host (the port may change between runs). */
  push_local: number;
  push_image: string;
  dockerfile: string;
  conda_file: string | null;
  platform: string;
  context_digest: string | null;
  /** Times the build was started (a restart of Berth re-queues a running build once). */
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  /** Digest of the pushed manifest. */
  digest: string | null;
  exit_status: number | null;
  /** JSON of the FailureReport. */
  error_report: string | null;
}

export interface ConnectSessionsTable {
  /** The session id: the first label of the studio's host name, so lower-case letters and digits. */
  id: string;
  workspace_id: string;
  /** The creator: the only one who may reach a private session. */
  user_id: string;
  is_private: number;
  /** sha256 of the agent's per-session token. */
  agent_token_hash: string;
  /** What the agent last reported: waiting (never connected), starting, running or stopped. */
  agent_status: string;
  exit_code: number | null;
  status_at: number;
  /** Last byte to or from the tool, as the agent reports it. */
  last_activity_at: number | null;
  created_at: number;
}

export interface WebLoginsTable {
  /** sha256 of the login cookie's value. */
  id_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

/** Where sessions run: a runner platform and its settings. */
export interface ComputeEnvsTable {
  id: string;
  workspace_id: string;
  name: string;
  /** local, docker or kubernetes. */
  platform: string;
  /** JSON of the platform's settings. */
  config: string;
  /** A workspace credential the runner needs (e.g. a registry or cluster login), by name. */
  credential_name: string | null;
  /** AVAILABLE or INVALID (with status_reason). */
  status: string;
  status_reason: string | null;
  checked_at: number | null;
  created_by: string | null;
  created_at: number;
  updated_at: number;
}

export interface WorkspaceSettingsTable {
  workspace_id: string;
  /** JSON of the workspace's Studios settings. */
  studios: string;
  updated_at: number;
}

/** A studio: a saved definition and the state of its (one) session. */
export interface StudiosTable {
  /** Also the id of its connect session: the first label of its URL. */
  session_id: string;
  workspace_id: string;
  user_id: string;
  name: string;
  description: string | null;
  /** JSON of the definition (template or image or repository, conda, resources, environment, lifespan…). */
  definition: string;
  compute_env_id: string | null;
  /** building, buildFailed, starting, running, stopping, stopped or errored. */
  status: string;
  status_message: string | null;
  stop_reason: string | null;
  status_at: number;
  /** JSON of the current or last run (runner handle, build, image, times); null before the first start. */
  run: string | null;
  created_at: number;
  updated_at: number;
  last_started_at: number | null;
}

export interface StudioEventsTable {
  session_id: string;
  /** 1, 2, 3… per studio. */
  seq: number;
  at: number;
  /** build, pull, start, connect or stop. */
  step: string;
  /** pending, in-progress, succeeded, errored or skipped. */
  status: string;
  message: string;
}
