/**
 * Amazon ECR's IAM action names, as the Service Authorization Reference lists them for the `ecr`
 * prefix, plus the groups Berth checks on the OCI face. Policies name these actions; a literal
 * name missing here is a typo that ECR would reject, so the policy parser rejects it too.
 *
 * Most actions share their name with an API operation. Two are permission-only (no operation of
 * that name): `BatchImportUpstreamImage` (pull-through cache fills) and `ReplicateImage`
 * (cross-account replication). Some operations have no action of their own, e.g.
 * `ListImageReferrers` is authorised by `ecr:BatchGetImage`, so it is not listed.
 */
export const ecrActions = [
  'ecr:BatchCheckLayerAvailability',
  'ecr:BatchDeleteImage',
  'ecr:BatchGetImage',
  'ecr:BatchGetRepositoryScanningConfiguration',
  'ecr:BatchImportUpstreamImage',
  'ecr:CompleteLayerUpload',
  'ecr:CreatePullThroughCacheRule',
  'ecr:CreateRepository',
  'ecr:CreateRepositoryCreationTemplate',
  'ecr:DeleteLifecyclePolicy',
  'ecr:DeletePullThroughCacheRule',
  'ecr:DeleteRegistryPolicy',
  'ecr:DeleteRepository',
  'ecr:DeleteRepositoryCreationTemplate',
  'ecr:DeleteRepositoryPolicy',
  'ecr:DeleteSigningConfiguration',
  'ecr:DeregisterPullTimeUpdateExclusion',
  'ecr:DescribeImageReplicationStatus',
  'ecr:DescribeImageScanFindings',
  'ecr:DescribeImageSigningStatus',
  'ecr:DescribeImages',
  'ecr:DescribePullThroughCacheRules',
  'ecr:DescribeRegistry',
  'ecr:DescribeRepositories',
  'ecr:DescribeRepositoryCreationTemplates',
  'ecr:GetAccountSetting',
  'ecr:GetAuthorizationToken',
  'ecr:GetDownloadUrlForLayer',
  'ecr:GetLifecyclePolicy',
  'ecr:GetLifecyclePolicyPreview',
  'ecr:GetRegistryPolicy',
  'ecr:GetRegistryScanningConfiguration',
  'ecr:GetRepositoryPolicy',
  'ecr:GetSigningConfiguration',
  'ecr:InitiateLayerUpload',
  'ecr:ListImages',
  'ecr:ListPullTimeUpdateExclusions',
  'ecr:ListTagsForResource',
  'ecr:PutAccountSetting',
  'ecr:PutImage',
  'ecr:PutImageScanningConfiguration',
  'ecr:PutImageTagMutability',
  'ecr:PutLifecyclePolicy',
  'ecr:PutRegistryPolicy',
  'ecr:PutRegistryScanningConfiguration',
  'ecr:PutReplicationConfiguration',
  'ecr:PutSigningConfiguration',
  'ecr:RegisterPullTimeUpdateExclusion',
  'ecr:ReplicateImage',
  'ecr:SetRepositoryPolicy',
  'ecr:StartImageScan',
  'ecr:StartLifecyclePolicyPreview',
  'ecr:TagResource',
  'ecr:UntagResource',
  'ecr:UpdateImageStorageClass',
  'ecr:UpdatePullThroughCacheRule',
  'ecr:UpdateRepositoryCreationTemplate',
  'ecr:UploadLayerPart',
  'ecr:ValidatePullThroughCacheRule',
] as const;

/** One of ECR's IAM action names, spelled as AWS spells it (`ecr:BatchGetImage`). */
export type EcrAction = (typeof ecrActions)[number];

/** What a client needs to pull an image: read the manifest, find and download its blobs. */
export const pullActions: readonly EcrAction[] = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];

/** What a client needs to push an image: check which blobs exist, upload the rest, put the manifest. */
export const pushActions: readonly EcrAction[] = [
  'ecr:PutImage',
  'ecr:InitiateLayerUpload',
  'ecr:UploadLayerPart',
  'ecr:CompleteLayerUpload',
  'ecr:BatchCheckLayerAvailability',
];

/**
 * The only actions ECR enforces in a registry (as opposed to repository) policy; PutRegistryPolicy
 * rejects a policy that names any other.
 */
export const registryPolicyActions: readonly EcrAction[] = ['ecr:ReplicateImage', 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'];

// IAM action names compare case-insensitively, so lookups go through the lower-cased name.
const actionsByLowerCaseName = new Map<string, EcrAction>(ecrActions.map((action) => [action.toLowerCase(), action]));

/** The action as AWS spells it when `name` is an ECR action in any letter case (`ECR:batchgetimage`), else undefined. */
export function canonicalEcrAction(name: string): EcrAction | undefined {
  return actionsByLowerCaseName.get(name.toLowerCase());
}

/** Whether `name` is one of ECR's IAM actions, compared case-insensitively like IAM does. */
export function isEcrAction(name: string): boolean {
  return canonicalEcrAction(name) !== undefined;
}
