import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { readAuthorization } from '../../http/basic-auth.ts';
import { scopeAllows } from '../../identity/api-tokens.ts';
import type { IdentityStore, User } from '../../identity/identity-store.ts';
import type { ConnectSession, ConnectSessions } from '../connect-sessions.ts';
import { sendMessagePage } from './pages.ts';
import type { StudioRouting, StudioTarget } from './studio-routing.ts';
import { ExpiringMap, type StudioTokens, type UseOnce } from './studio-tokens.ts';

/** What the proxy does with a request to a studio. */
export type StudioAccess =
  /** Forward it to the tool; add `setCookie` (a renewed studio cookie) to the tool's response. */
  | { kind: 'allowed'; userId: string; setCookie?: string }
  /** A browser without a studio cookie: 302 to `location` with `setCookie` (the login's state). */
  | { kind: 'login'; location: string; setCookie: string }
  | { kind: 'denied'; status: 401 | 403; message: string };

export interface StudioAuthDeps {
  sessions: ConnectSessions;
  identity: IdentityStore;
  tokens: StudioTokens;
  routing: StudioRouting;
  /** RouteStore.useOnce: makes authorization codes single use across replicas. */
  useOnce: UseOnce;
  /** Lifetime of the studio cookie (connect.studioTokenTtlS). */
  studioTokenTtlS: number;
  /** Mark cookies Secure (the platform is served over https). */
  secureCookies?: boolean;
}

/** Programmatic clients (CLI, tests, scripts) send their API token in this header. */
export const sessionTokenHeader = 'berth-session-token';
/** The cookie that opens one studio: a studio token (JWT) bound to the session. */
export const studioCookie = 'berth_studio';
/** Every cookie Berth sets starts with this; none of them reaches a tool. */
const berthCookiePrefix = 'berth_';
/** One state cookie per login in flight (`berth_state_<nonce>`), so two tabs logging in do not clash. */
const stateCookiePrefix = 'berth_state_';
/** Where the platform sends the browser back with a code, below the studio's prefix. */
export const callbackPath = '_berth/callback';

/** Decisions about a credential are reused this long: a revoked token or role stops working within it. */
const decisionTtlMs = 10_000;
const decisionCacheLimit = 10_000;
/** Time a user has to sign in on the platform before the studio forgets the login it started. */
const stateTtlS = 600;
const maxReturnPathLength = 2048;
const noncePattern = /^[A-Za-z0-9_-]{22}$/;

/**
 * Authentication and authorization of requests to studios. A request is let through by an API token
 * in `Berth-Session-Token`, or by the studio cookie that the login round trip sets: the studio sends
 * the browser to the platform's `/connect/authorize`, which sends it back to `<prefix>_berth/callback`
 * with a single-use code that this class turns into the cookie (host-only, so it opens this studio only).
 */
export class StudioAuth {
  private readonly decisions = new ExpiringMap<StudioAccess | undefined>(decisionCacheLimit);

  constructor(private readonly deps: StudioAuthDeps) {}

  async check(req: IncomingMessage, session: ConnectSession, target: StudioTarget): Promise<StudioAccess> {
    const apiToken = singleHeader(req.headers[sessionTokenHeader]);
    if (apiToken !== undefined) return this.byApiToken(apiToken, session);
    const byCookie = await this.byStudioCookie(req, session, target);
    if (byCookie) return byCookie;
    if (isBrowserNavigation(req)) return this.startLogin(req, session, target);
    return {
      kind: 'denied',
      status: 401,
      message: `sign in to open studio ${session.id}: send an API token in the Berth-Session-Token header, or open the studio in a browser`,
    };
  }

  /** True for the login callback of this studio (`<prefix>_berth/callback`), which `handleCallback` answers. */
  isCallback(url: string, target: StudioTarget): boolean {
    const query = url.indexOf('?');
    return (query < 0 ? url : url.slice(0, query)) === target.prefix + callbackPath;
  }

  /** Turns the platform's code into the studio cookie and sends the browser where it was going. */
  async handleCallback(req: IncomingMessage, res: ServerResponse, session: ConnectSession, target: StudioTarget): Promise<void> {
    const params = new URL(req.url ?? '/', 'http://studio.invalid').searchParams;
    const code = params.get('code');
    const state = parseState(params.get('state') ?? '');
    const again = { href: target.prefix, text: 'Open the studio again' };
    if (!code || !state) return sendMessagePage(res, 400, 'Sign-in incomplete', 'The sign-in link lacks its code or state.', again);
    const clearState = this.cookie(stateCookiePrefix + state.nonce, '', target.prefix, 0);
    if (!cookieValues(req.headers.cookie, stateCookiePrefix + state.nonce).includes(state.raw)) {
      const message = 'This sign-in was not started in this browser, or it took longer than ten minutes.';
      return sendMessagePage(res, 400, 'Sign-in expired', message, again, { 'Set-Cookie': clearState });
    }
    const redirectUri = studioCallbackUrl(this.deps.routing, session.id, this.deps.routing.platformBase(req));
    const grant = await this.deps.tokens.redeemCode(code, { sessionId: session.id, redirectUri }, this.deps.useOnce);
    if (!grant) {
      const message = 'This sign-in link has expired or was already used.';
      return sendMessagePage(res, 400, 'Sign-in expired', message, again, { 'Set-Cookie': clearState });
    }
    const user = await this.deps.identity.findUserById(grant.userId);
    const access = user ? await this.byRights(user, session) : undefined;
    if (access?.kind !== 'allowed') {
      const message = access?.kind === 'denied' ? access.message : 'The user of this sign-in no longer exists.';
      const other = { href: `${this.deps.routing.platformBase(req)}/login`, text: 'Sign in as someone else' };
      return sendMessagePage(res, 403, 'Not allowed', message, other, { 'Set-Cookie': clearState });
    }
    const token = await this.deps.tokens.issueStudioToken({ userId: access.userId, sessionId: session.id }, this.deps.studioTokenTtlS);
    res.writeHead(302, {
      Location: isUnderPrefix(state.returnPath, target.prefix) ? state.returnPath : target.prefix,
      'Set-Cookie': [this.cookie(studioCookie, token, target.prefix, this.deps.studioTokenTtlS), clearState],
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
    });
    res.end();
  }

  private async byApiToken(secret: string, session: ConnectSession): Promise<StudioAccess> {
    const key = `token:${createHash('sha256').update(secret).digest('hex')}:${session.id}`;
    return this.decided(key, async () => {
      const found = await this.deps.identity.authenticate(secret);
      if (!found) return { kind: 'denied', status: 401, message: 'the Berth-Session-Token header does not hold a valid API token' };
      if (!scopeAllows(found.token.scopes, 'api')) {
        return { kind: 'denied', status: 403, message: 'the API token in Berth-Session-Token lacks the api scope' };
      }
      return this.byRights(found.user, session);
    }) as Promise<StudioAccess>;
  }

  /** Access by the studio cookie, or undefined when there is no valid cookie for this session. */
  private async byStudioCookie(req: IncomingMessage, session: ConnectSession, target: StudioTarget): Promise<StudioAccess | undefined> {
    // Several may arrive (e.g. one set by a sibling host for a parent domain): any valid one counts.
    for (const token of cookieValues(req.headers.cookie, studioCookie)) {
      const claims = await this.deps.tokens.verifyStudioToken(token, session.id);
      if (!claims) continue;
      const access = await this.decided(`user:${claims.userId}:${session.id}`, async () => {
        const user = await this.deps.identity.findUserById(claims.userId);
        return user && this.byRights(user, session);
      });
      if (access?.kind !== 'allowed' || !this.wantsRenewal(claims.expiresAt)) return access;
      const renewed = await this.deps.tokens.issueStudioToken({ userId: claims.userId, sessionId: session.id }, this.deps.studioTokenTtlS);
      return { ...access, setCookie: this.cookie(studioCookie, renewed, target.prefix, this.deps.studioTokenTtlS) };
    }
    return undefined;
  }

  private async byRights(user: User, session: ConnectSession): Promise<StudioAccess> {
    if (await this.deps.sessions.mayConnect(session, user)) return { kind: 'allowed', userId: user.id };
    return { kind: 'denied', status: 403, message: refusal(session, user) };
  }

  private startLogin(req: IncomingMessage, session: ConnectSession, target: StudioTarget): StudioAccess {
    const nonce = randomBytes(16).toString('base64url');
    const wanted = req.url ?? target.prefix;
    const returnPath = wanted.length <= maxReturnPathLength && isUnderPrefix(wanted, target.prefix) ? wanted : target.prefix;
    const state = `${nonce}.${Buffer.from(returnPath).toString('base64url')}`;
    const platformBase = this.deps.routing.platformBase(req);
    const query = new URLSearchParams({ session: session.id, redirect_uri: studioCallbackUrl(this.deps.routing, session.id, platformBase), state });
    return {
      kind: 'login',
      location: `${platformBase}/connect/authorize?${query}`,
      setCookie: this.cookie(stateCookiePrefix + nonce, state, target.prefix, stateTtlS),
    };
  }

  private wantsRenewal(expiresAt: number): boolean {
    return expiresAt - Date.now() < (this.deps.studioTokenTtlS * 1000) / 2;
  }

  private async decided(key: string, decide: () => Promise<StudioAccess | undefined>): Promise<StudioAccess | undefined> {
    const now = Date.now();
    const cached = this.decisions.get(key, now);
    if (cached) return cached.value;
    const decision = await decide();
    this.decisions.set(key, decision, now + decisionTtlMs);
    return decision;
  }

  private cookie(name: string, value: string, path: string, maxAgeS: number): string {
    return serializeCookie(name, value, { path, maxAgeS, secure: this.deps.secureCookies ?? false });
  }
}

/** Why `user` may not open `session`, in words for the user. */
export function refusal(session: ConnectSession, user: User): string {
  return session.isPrivate
    ? `studio ${session.id} is private: only its creator may open it, and you are signed in as ${user.name}`
    : `opening studio ${session.id} needs role launch or above in its workspace, which ${user.name} does not have`;
}

/** The address the platform sends a browser back to with a code: the session's own, nothing else. */
export function studioCallbackUrl(routing: StudioRouting, sessionId: string, platformBase: string): string {
  return routing.studioUrl(sessionId, platformBase) + callbackPath;
}

/**
 * The request's headers minus Berth's credentials, as the tool must see them: every `berth_*` cookie,
 * `Berth-Session-Token`, and an Authorization header that carries a Berth API token (a tool's own
 * Authorization stays). The input is not changed.
 */
export function withoutBerthCredentials(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const result: IncomingHttpHeaders = { ...headers };
  delete result[sessionTokenHeader];
  if (result.cookie !== undefined) {
    const kept = result.cookie.split(';').map((part) => part.trim()).filter((part) => part && !isBerthCookie(part));
    if (kept.length > 0) result.cookie = kept.join('; ');
    else delete result.cookie;
  }
  if (result.authorization !== undefined && carriesBerthSecret(result.authorization)) delete result.authorization;
  return result;
}

function isBerthCookie(pair: string): boolean {
  const equals = pair.indexOf('=');
  return (equals < 0 ? pair : pair.slice(0, equals)).trim().toLowerCase().startsWith(berthCookiePrefix);
}

function carriesBerthSecret(authorization: string): boolean {
  const credentials = readAuthorization(authorization);
  if (credentials.scheme === 'bearer') return credentials.token.startsWith('berth_');
  return credentials.scheme === 'basic' && credentials.password.startsWith('berth_');
}

function isBrowserNavigation(req: IncomingMessage): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && (req.headers.accept ?? '').toLowerCase().includes('text/html');
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The state of a login: a nonce (names its cookie) and the path+query the browser was going to. */
function parseState(raw: string): { raw: string; nonce: string; returnPath: string } | undefined {
  const dot = raw.indexOf('.');
  const nonce = raw.slice(0, dot);
  if (dot < 0 || !noncePattern.test(nonce)) return undefined;
  return { raw, nonce, returnPath: Buffer.from(raw.slice(dot + 1), 'base64url').toString('utf8') };
}

/** True for a path (+query) that stays below `prefix` of the same origin, so redirecting there is safe. */
export function isUnderPrefix(path: string, prefix: string): boolean {
  if (!path.startsWith(prefix) || path.startsWith('//') || /[\\\u0000-\u001f\u007f]/.test(path)) return false;
  const base = 'http://studio.invalid';
  const resolved = new URL(path, base);
  return resolved.origin === base && resolved.pathname.startsWith(prefix);
}

// ---- Cookies and pages, shared with PlatformLogin -------------------------------------------------

/** Every value of cookie `name` in a Cookie header, in order. */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const pair of header.split(';')) {
    const equals = pair.indexOf('=');
    if (equals >= 0 && pair.slice(0, equals).trim() === name) values.push(pair.slice(equals + 1).trim());
  }
  return values;
}

/** A host-only (no Domain), HttpOnly, SameSite=Lax Set-Cookie value; `maxAgeS` 0 deletes the cookie. */
export function serializeCookie(name: string, value: string, options: { path: string; maxAgeS: number; secure: boolean }): string {
  return `${name}=${value}; Path=${options.path}; Max-Age=${options.maxAgeS}; HttpOnly; SameSite=Lax${options.secure ? '; Secure' : ''}`;
}

