import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { loadOrCreateSigningKey, type SigningKey } from '../../secrets/signing-key.ts';

/** The connect signing key's file in the data directory: its own key, not the registry's. */
export const connectSigningKeyFile = 'connect-signing-key.pem';

const issuer = 'berth';
const codeAudience = 'berth-connect-code';
const studioAudience = 'berth-studio';
/** An authorization code only has to survive one redirect. */
const codeTtlS = 60;
/** Longer than any JWT Berth issues: anything bigger is refused before parsing. */
const maxTokenLength = 4096;
const verifiedCacheLimit = 10_000;

/** What a redeemed authorization code grants: this user, for the session it was issued for. */
export interface CodeGrant {
  userId: string;
}

export interface StudioTokenClaims {
  userId: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** True the first time a key is seen within `ttlS` (RouteStore.useOnce): makes codes single use. */
export type UseOnce = (key: string, ttlS: number) => Promise<boolean>;

/**
 * The tokens of the studio login round trip, RS256 JWTs:
 * - authorization codes (60 s, single use): the platform hands one to a studio's callback URL;
 * - studio tokens: the cookie that opens one session (`sid` claim), never another.
 * Verified studio tokens are cached until they expire, so the proxy's hot path checks a signature
 * once per token, not once per request.
 */
export class StudioTokens {
  private readonly verified = new ExpiringMap<{ userId: string; sessionId: string }>(verifiedCacheLimit);
  private readonly now: () => number;

  constructor(
    private readonly key: SigningKey,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Tokens signed with `<dataDir>/connect-signing-key.pem`, created on first start. */
  static async open(dataDir: string, options: { now?: () => number } = {}): Promise<StudioTokens> {
    return new StudioTokens(await loadOrCreateSigningKey(join(dataDir, connectSigningKeyFile)), options);
  }

  /** A code that lets `redirectUri` (the session's callback) obtain a studio token for the user. */
  issueCode(input: { userId: string; sessionId: string; redirectUri: string }): Promise<string> {
    return this.sign({ sid: input.sessionId, ruri: input.redirectUri }, input.userId, codeAudience, codeTtlS);
  }

  /**
   * The grant of a code presented at `redirectUri` of `sessionId`, or undefined when it is forged,
   * expired, meant for another session or callback, or already used. Only a code that passes every
   * other check is marked used, through `useOnce` (the shared route store, so replicas agree).
   */
  async redeemCode(code: string, expected: { sessionId: string; redirectUri: string }, useOnce: UseOnce): Promise<CodeGrant | undefined> {
    const payload = await this.verify(code, codeAudience);
    if (!payload?.sub || !payload.jti || payload.sid !== expected.sessionId || payload.ruri !== expected.redirectUri) return undefined;
    const firstUse = await useOnce(`connect-code:${payload.jti}`, codeTtlS + 5);
    return firstUse ? { userId: payload.sub } : undefined;
  }

  /** The cookie value that opens `sessionId` for the user during `ttlS` seconds. */
  issueStudioToken(input: { userId: string; sessionId: string }, ttlS: number): Promise<string> {
    return this.sign({ sid: input.sessionId }, input.userId, studioAudience, ttlS);
  }

  /** The claims of a valid studio token for this very session; undefined for anything else. */
  async verifyStudioToken(token: string, sessionId: string): Promise<StudioTokenClaims | undefined> {
    const now = this.now();
    const cached = this.verified.get(token, now);
    if (cached) return cached.value.sessionId === sessionId ? { userId: cached.value.userId, expiresAt: cached.until } : undefined;
    const payload = await this.verify(token, studioAudience);
    if (!payload?.sub || typeof payload.sid !== 'string' || payload.exp === undefined) return undefined;
    const claims = { userId: payload.sub, expiresAt: payload.exp * 1000 };
    this.verified.set(token, { userId: claims.userId, sessionId: payload.sid }, claims.expiresAt);
    return payload.sid === sessionId ? claims : undefined;
  }

  private sign(claims: Record<string, string>, subject: string, audience: string, ttlS: number): Promise<string> {
    const nowS = Math.floor(this.now() / 1000);
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: this.key.kid })
      .setIssuer(issuer)
      .setSubject(subject)
      .setAudience(audience)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + ttlS)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
  }

  private async verify(token: string, audience: string): Promise<JWTPayload | undefined> {
    if (token.length > maxTokenLength) return undefined;
    try {
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        issuer,
        audience,
        algorithms: ['RS256'],
        currentDate: new Date(this.now()),
      });
      return payload;
    } catch {
      return undefined;
    }
  }
}

/**
 * A map whose entries vanish at their own deadline and which never holds more than `limit` entries
 * (the oldest goes first): for caches keyed by what clients send.
 */
export class ExpiringMap<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(private readonly limit: number) {}

  get(key: string, now: number): { value: V; until: number } | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.until <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    if (this.entries.size >= this.limit) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, until });
  }

  get size(): number {
    return this.entries.size;
  }
}
