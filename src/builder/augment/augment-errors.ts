/**
 * Why an augmentation was refused. The API face maps each kind to a status and a code
 * (src/api/image-routes.ts, listed in docs/builder.md); registry errors (a tag that is immutable,
 * a manifest the registry refuses) pass through unchanged, in the registry's own words.
 */
export type AugmentErrorKind =
  /** The source image (workspace, repository, tag or digest) does not exist. */
  | 'SourceUnknown'
  /** A base layer the source names is not stored in Berth (a pull-through cache not yet filled). */
  | 'SourceIncomplete'
  /** The caller may not pull the source or push the target. */
  | 'Denied'
  /** A malformed reference, env entry, working directory, or an empty request. */
  | 'InvalidRequest'
  /** A layer path that does not exist, or a layer blob that is not in the target repository. */
  | 'LayerNotFound'
  /** A layer that is neither a tar archive nor a gzip-compressed one. */
  | 'LayerInvalid'
  /** An image Berth cannot augment: no platform image in an index, a nested index, a config without rootfs. */
  | 'Unsupported';

export class AugmentError extends Error {
  constructor(
    readonly kind: AugmentErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'AugmentError';
  }
}

/** Every kind, for the face's status table and the test that holds the docs to it. */
export const augmentErrorKinds: readonly AugmentErrorKind[] = [
  'SourceUnknown',
  'SourceIncomplete',
  'Denied',
  'InvalidRequest',
  'LayerNotFound',
  'LayerInvalid',
  'Unsupported',
];
