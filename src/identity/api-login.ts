import { readAuthorization } from '../http/basic-auth.ts';
import { scopeAllows } from './api-tokens.ts';
import type { Authenticated, IdentityStore } from './identity-store.ts';

/** Why a caller of an API face was not let in; each face words it in its own protocol. */
export type ApiLoginFailure = 'missing' | 'invalid' | 'scope';

/**
 * The caller of an API face: an API token with the `api` scope, sent as `Authorization: Bearer`, as basic
 * auth with its owner's name, or (faces whose protocol carries it in the body) as `bodyToken`.
 */
export async function apiLogin(
  identity: IdentityStore,
  authorization: string | undefined,
  bodyToken?: string,
): Promise<{ caller: Authenticated } | { failure: ApiLoginFailure }> {
  const credentials = readAuthorization(authorization);
  const secret = credentials.scheme === 'bearer' ? credentials.token : credentials.scheme === 'basic' ? credentials.password : bodyToken;
  if (!secret) return { failure: 'missing' };
  const found = await identity.authenticate(secret);
  if (!found || (credentials.scheme === 'basic' && credentials.username !== found.user.name)) return { failure: 'invalid' };
  if (!scopeAllows(found.token.scopes, 'api')) return { failure: 'scope' };
  return { caller: found };
}
