import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { AccessEntry } from './scope.ts';
import type { SigningKey } from '../../secrets/signing-key.ts';

export interface AccessClaims {
  /** User name; empty for an anonymous token. */
  subject: string;
  userId?: string;
  access: AccessEntry[];
  expiresAt: number;
}

/** The credential a login was made with: revoking it ends every token derived from it. */
export type CredentialRef = { kind: 'api-token' | 'access-key'; id: string };

/** Who a refresh token or an ECR login password stands for. */
export interface LoginClaims {
  userId: string;
  credential: CredentialRef;
}

const issuer = 'berth';
const cacheLimit = 10_000;

/**
 * Signs and verifies the registry's bearer tokens (RS256 JWTs with an `access` claim, as the
 * Docker token specification describes) and the long-lived refresh tokens that `docker login`
 * keeps. Verified access tokens are cached until they expire, so a token costs one signature
 * check however many requests it carries.
 */
export class RegistryTokens {
  private readonly verified = new Map<string, AccessClaims>();

  constructor(
    private readonly key: SigningKey,
    private readonly service: string,
    private readonly ttlS: number,
    private readonly refreshTtlS: number,
  ) {}

  async issueAccess(subject: { name: string; id?: string } | undefined, access: AccessEntry[]): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const issuedAt = new Date();
    const token = await new SignJWT({ access, ...(subject?.id ? { uid: subject.id } : {}) })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.key.kid })
      .setIssuer(issuer)
      .setSubject(subject?.name ?? '')
      .setAudience(this.service)
      .setIssuedAt(Math.floor(issuedAt.getTime() / 1000))
      .setNotBefore(Math.floor(issuedAt.getTime() / 1000) - 5)
      .setExpirationTime(Math.floor(issuedAt.getTime() / 1000) + this.ttlS)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { token, expiresIn: this.ttlS, issuedAt };
  }

  /** The claims of a valid access token, or undefined for anything else (expired, forged, other audience). */
  async verifyAccess(token: string): Promise<AccessClaims | undefined> {
    const cached = this.verified.get(token);
    if (cached) {
      if (cached.expiresAt > Date.now()) return cached;
      this.verified.delete(token);
    }
    const payload = await this.verify(token, this.service);
    if (!payload || !Array.isArray(payload.access)) return undefined;
    const claims: AccessClaims = {
      subject: payload.sub ?? '',
      userId: typeof payload.uid === 'string' ? payload.uid : undefined,
      access: (payload.access as AccessEntry[]).filter(isAccessEntry),
      expiresAt: (payload.exp ?? 0) * 1000,
    };
    if (this.verified.size >= cacheLimit) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
    return claims;
  }

  /** A refresh (identity) token, as `docker login` keeps one instead of the password. */
  issueRefresh(claims: LoginClaims, userName: string): Promise<string> {
    return this.issueLoginToken(claims, userName, 'refresh', this.refreshTtlS);
  }

  verifyRefresh(token: string): Promise<LoginClaims | undefined> {
    return this.verifyLoginToken(token, 'refresh');
  }

  /** The password of ECR's GetAuthorizationToken: a login as user `AWS` for `ttlS` seconds. */
  issueEcrLogin(claims: LoginClaims, userName: string, ttlS: number): Promise<string> {
    return this.issueLoginToken(claims, userName, 'ecr-login', ttlS);
  }

  verifyEcrLogin(token: string): Promise<LoginClaims | undefined> {
    return this.verifyLoginToken(token, 'ecr-login');
  }

  private async issueLoginToken(claims: LoginClaims, userName: string, use: string, ttlS: number): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ uid: claims.userId, cred: claims.credential })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.key.kid })
      .setIssuer(issuer)
      .setSubject(userName)
      .setAudience(`${this.service}:${use}`)
      .setIssuedAt(now)
      .setExpirationTime(now + ttlS)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
  }

  private async verifyLoginToken(token: string, use: string): Promise<LoginClaims | undefined> {
    const payload = await this.verify(token, `${this.service}:${use}`);
    const credential = payload?.cred as CredentialRef | undefined;
    if (!payload || typeof payload.uid !== 'string' || !credential || typeof credential.id !== 'string') return undefined;
    if (credential.kind !== 'api-token' && credential.kind !== 'access-key') return undefined;
    return { userId: payload.uid, credential: { kind: credential.kind, id: credential.id } };
  }

  private async verify(token: string, audience: string): Promise<JWTPayload | undefined> {
    if (token.length > 16_384) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, { issuer, audience, algorithms: ['RS256'] });
      return payload;
    } catch {
      return undefined;
    }
  }
}

function isAccessEntry(value: unknown): value is AccessEntry {
  const entry = value as AccessEntry;
  return typeof entry?.type === 'string' && typeof entry.name === 'string' && Array.isArray(entry.actions);
}
