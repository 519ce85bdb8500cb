/** A repository of the registry, as the index stores it and every part reads it. */

/** ECR's per-repository settings, kept for every repository. */
export interface RepositorySettings {
  imageTagMutability: 'MUTABLE' | 'IMMUTABLE';
  scanOnPush: boolean;
  encryptionType: 'AES256' | 'KMS';
  kmsKey: string | null;
  resourceTags: Array<{ Key: string; Value: string }>;
  policyText: string | null;
  lifecyclePolicyText: string | null;
  /** The pull-through cache rule this repository mirrors an upstream for. */
  upstreamRuleId: string | null;
}

export interface Repository extends RepositorySettings {
  id: string;
  workspaceId: string;
  /** Path inside the workspace. */
  name: string;
  isPublic: boolean;
  createdAt: number;
}

export const defaultRepositorySettings: RepositorySettings = {
  imageTagMutability: 'MUTABLE',
  scanOnPush: false,
  encryptionType: 'AES256',
  kmsKey: null,
  resourceTags: [],
  policyText: null,
  lifecyclePolicyText: null,
  upstreamRuleId: null,
};
