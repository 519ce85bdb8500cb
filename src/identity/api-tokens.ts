import { createHash, randomBytes } from 'node:crypto';

/**
 * API token secrets look like `berth_<43 url-safe chars>` (256 random bits). Only their sha256 is
 * stored: a secret this strong needs no slow hash, and lookups stay one indexed query.
 */
const prefix = 'berth_';

export function newTokenSecret(): string {
  return prefix + randomBytes(32).toString('base64url');
}

export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function looksLikeTokenSecret(value: string): boolean {
  return value.startsWith(prefix) && value.length >= prefix.length + 20 && value.length <= 200;
}

/**
 * Scopes limit what a token may do; a token is never stronger than its owner, so scopes only
 * narrow the owner's own rights.
 */
export const tokenScopes = ['*', 'registry:pull', 'registry:push', 'api'] as const;
export type TokenScope = (typeof tokenScopes)[number];

export function isTokenScope(value: string): value is TokenScope {
  return (tokenScopes as readonly string[]).includes(value);
}

export function scopeAllows(scopes: readonly TokenScope[], needed: Exclude<TokenScope, '*'>): boolean {
  if (scopes.includes('*') || scopes.includes(needed)) return true;
  return needed === 'registry:pull' && scopes.includes('registry:push');
}
