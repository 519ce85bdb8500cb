/**
 * Domain failures of the registry. Faces translate them: the OCI face to the distribution
 * spec's codes (`oci/errors.ts`), later the ECR face to AWS exception names.
 */
export type RegistryErrorKind =
  | 'BlobUnknown'
  | 'BlobUploadUnknown'
  | 'BlobUploadInvalid'
  | 'DigestInvalid'
  | 'ManifestUnknown'
  | 'ManifestInvalid'
  | 'ManifestBlobUnknown'
  | 'ManifestTooLarge'
  | 'NameInvalid'
  | 'NameUnknown'
  | 'TagInvalid'
  | 'RangeInvalid'
  | 'SizeInvalid'
  | 'PaginationInvalid'
  | 'Denied'
  | 'Unsupported'
  // Management (the ECR-compatible API); the OCI face meets few of these.
  | 'RepositoryAlreadyExists'
  | 'RepositoryNotEmpty'
  | 'RepositoryPolicyNotFound'
  | 'RegistryPolicyNotFound'
  | 'LifecyclePolicyNotFound'
  | 'LifecyclePreviewNotFound'
  | 'ImageNotFound'
  | 'ImageAlreadyExists'
  | 'TagImmutable'
  | 'InvalidParameter'
  | 'PullThroughRuleAlreadyExists'
  | 'PullThroughRuleNotFound'
  | 'UnsupportedUpstream'
  | 'CredentialNotFound'
  | 'TemplateAlreadyExists'
  | 'TemplateNotFound'
  | 'UpstreamUnavailable';

export class RegistryError extends Error {
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

export const isRegistryError = (error: unknown, kind?: RegistryErrorKind): error is RegistryError =>
  error instanceof RegistryError && (kind === undefined || error.kind === kind);
