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
}

export interface UploadsTable {
  id: string;
  repository_id: string;
  started_at: number;
  touched_at: number;
}
