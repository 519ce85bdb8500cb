import { RegistryError, type RegistryErrorKind } from '../errors.ts';

/** An Amazon ECR error as AWS JSON 1.1 sends it: `{"__type": name, "message": …}`. */
export class EcrError extends Error {
  constructor(
    readonly type: EcrErrorType,
    message: string,
    readonly status = 400,
  ) {
    super(message);
    this.name = 'EcrError';
  }
}

/** Every exception name this face can send; `docs/ecr.md` lists the same set (a test keeps them equal). */
export const ecrErrorTypes = [
  'AccessDeniedException',
  'ImageAlreadyExistsException',
  'ImageDigestDoesNotMatchException',
  'ImageNotFoundException',
  'ImageTagAlreadyExistsException',
  'IncompleteSignatureException',
  'InvalidParameterException',
  'InvalidSignatureException',
  'LayersNotFoundException',
  'LifecyclePolicyNotFoundException',
  'LifecyclePolicyPreviewNotFoundException',
  'MissingAuthenticationTokenException',
  'PullThroughCacheRuleAlreadyExistsException',
  'PullThroughCacheRuleNotFoundException',
  'RegistryPolicyNotFoundException',
  'RepositoryAlreadyExistsException',
  'RepositoryNotEmptyException',
  'RepositoryNotFoundException',
  'RepositoryPolicyNotFoundException',
  'SecretNotFoundException',
  'SerializationException',
  'ServerException',
  'TemplateAlreadyExistsException',
  'TemplateNotFoundException',
  'UnknownOperationException',
  'UnrecognizedClientException',
  'UnsupportedImageTypeException',
  'UnsupportedUpstreamRegistryException',
  'ValidationException',
] as const;
export type EcrErrorType = (typeof ecrErrorTypes)[number];

/** Domain failures by the ECR exception AWS sends for them. */
const fromDomain: Record<RegistryErrorKind, EcrErrorType> = {
  BlobUnknown: 'LayersNotFoundException',
  BlobUploadUnknown: 'InvalidParameterException',
  BlobUploadInvalid: 'InvalidParameterException',
  DigestInvalid: 'ImageDigestDoesNotMatchException',
  ManifestUnknown: 'ImageNotFoundException',
  ManifestInvalid: 'InvalidParameterException',
  ManifestBlobUnknown: 'LayersNotFoundException',
  ManifestTooLarge: 'InvalidParameterException',
  NameInvalid: 'InvalidParameterException',
  NameUnknown: 'RepositoryNotFoundException',
  TagInvalid: 'InvalidParameterException',
  RangeInvalid: 'InvalidParameterException',
  SizeInvalid: 'InvalidParameterException',
  PaginationInvalid: 'InvalidParameterException',
  Denied: 'AccessDeniedException',
  Unsupported: 'ValidationException',
  RepositoryAlreadyExists: 'RepositoryAlreadyExistsException',
  RepositoryNotEmpty: 'RepositoryNotEmptyException',
  RepositoryPolicyNotFound: 'RepositoryPolicyNotFoundException',
  RegistryPolicyNotFound: 'RegistryPolicyNotFoundException',
  LifecyclePolicyNotFound: 'LifecyclePolicyNotFoundException',
  LifecyclePreviewNotFound: 'LifecyclePolicyPreviewNotFoundException',
  ImageNotFound: 'ImageNotFoundException',
  ImageAlreadyExists: 'ImageAlreadyExistsException',
  TagImmutable: 'ImageTagAlreadyExistsException',
  InvalidParameter: 'InvalidParameterException',
  PullThroughRuleAlreadyExists: 'PullThroughCacheRuleAlreadyExistsException',
  PullThroughRuleNotFound: 'PullThroughCacheRuleNotFoundException',
  UnsupportedUpstream: 'UnsupportedUpstreamRegistryException',
  CredentialNotFound: 'SecretNotFoundException',
  TemplateAlreadyExists: 'TemplateAlreadyExistsException',
  TemplateNotFound: 'TemplateNotFoundException',
  UpstreamUnavailable: 'ServerException',
};

export function toEcrError(error: unknown): EcrError | undefined {
  if (error instanceof EcrError) return error;
  if (error instanceof RegistryError) return new EcrError(fromDomain[error.kind], error.message);
  return undefined;
}
