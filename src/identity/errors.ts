/** Failures of identity operations; each face maps them to its own protocol's codes. */
export class IdentityError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'CONFLICT' | 'INVALID' | 'FORBIDDEN',
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}
