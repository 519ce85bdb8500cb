import type { AccessKeys } from '../../identity/access-keys.ts';
import type { IdentityStore } from '../../identity/identity-store.ts';
import type { Actor } from './access.ts';
import type { CredentialRef, LoginClaims, RegistryTokens } from './registry-tokens.ts';

/** A verified login: who, with what rights, by which credential. */
export interface Login {
  actor: Actor;
  credential: CredentialRef;
}

/** The user name clients give with an ECR authorization token, as with Amazon ECR. */
export const ecrLoginUser = 'AWS';

/**
 * Checks the user name and password registry clients send (basic auth, the token endpoint):
 * a user's own name with one of their API tokens, or `AWS` with a GetAuthorizationToken password.
 * Logins derived from a credential (refresh tokens, ECR passwords) end when it is revoked.
 */
export class Logins {
  constructor(
    private readonly identity: IdentityStore,
    private readonly accessKeys: AccessKeys,
    private readonly tokens: RegistryTokens,
  ) {}

  async withPassword(username: string, password: string): Promise<Login | undefined> {
    if (username === ecrLoginUser) return this.fromClaims(await this.tokens.verifyEcrLogin(password));
    const found = await this.identity.authenticate(password);
    if (!found || found.user.name !== username) return undefined;
    return { actor: { user: found.user, scopes: found.token.scopes }, credential: { kind: 'api-token', id: found.token.id } };
  }

  async withRefreshToken(refreshToken: string): Promise<Login | undefined> {
    return this.fromClaims(await this.tokens.verifyRefresh(refreshToken));
  }

  private async fromClaims(claims: LoginClaims | undefined): Promise<Login | undefined> {
    if (!claims) return undefined;
    const scopes = await this.liveScopes(claims);
    const user = scopes && (await this.identity.findUserById(claims.userId));
    return user && scopes ? { actor: { user, scopes }, credential: claims.credential } : undefined;
  }

  /** The scopes the credential still grants, or undefined when it is gone, expired or not the user's. */
  private async liveScopes(claims: LoginClaims): Promise<Actor['scopes'] | undefined> {
    if (claims.credential.kind === 'access-key') {
      const key = await this.accessKeys.resolve(claims.credential.id);
      return key && key.user.id === claims.userId ? ['registry:pull', 'registry:push'] : undefined;
    }
    const token = await this.identity.findApiToken(claims.credential.id);
    if (!token || token.userId !== claims.userId || (token.expiresAt !== null && token.expiresAt <= Date.now())) return undefined;
    return token.scopes;
  }
}
