import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge, readCapped } from '../../http/body.ts';
import { scopeAllows } from '../../identity/api-tokens.ts';
import { apiLogin } from '../../identity/api-login.ts';
import type { IdentityStore, User } from '../../identity/identity-store.ts';
import type { WebLogins } from '../../identity/web-logins.ts';
import type { ConnectSessions } from '../connect-sessions.ts';
import { escapeHtml, sendHtmlPage, sendMessagePage } from './pages.ts';
import { cookieValues, isUnderPrefix, refusal, serializeCookie, studioCallbackUrl } from './studio-auth.ts';
import type { StudioRouting } from './studio-routing.ts';
import type { StudioTokens } from './studio-tokens.ts';

export interface PlatformLoginDeps {
  identity: IdentityStore;
  webLogins: WebLogins;
  sessions: ConnectSessions;
  tokens: StudioTokens;
  routing: StudioRouting;
  /** How long the login cookie lasts (auth.webLoginTtlS). */
  webLoginTtlS: number;
  /** Mark cookies Secure (the platform is served over https). */
  secureCookies?: boolean;
}

/** The platform's login cookie (host-only, on the platform's host). */
export const loginCookie = 'berth_login';
const maxFormBytes = 8 * 1024;
const maxNextLength = 4096;
const maxStateLength = 4096;

type Caller = { user: User } | { failure: 'missing' | 'invalid' | 'scope' };

/**
 * The platform's side of studio logins, on the platform's host: `/login` (a form: user name and API
 * token → the `berth_login` cookie), `/logout`, and `/connect/authorize`, which gives a signed-in
 * caller a single-use code for one session, sent only to that session's own callback address.
 */
export class PlatformLogin {
  constructor(private readonly deps: PlatformLoginDeps) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://platform.invalid');
    const reading = req.method === 'GET' || req.method === 'HEAD';
    switch (url.pathname) {
      case '/login':
        if (reading) return this.sendForm(res, 200, { next: safeNext(url.searchParams.get('next')) });
        if (req.method === 'POST') return this.login(req, res);
        break;
      case '/logout':
        if (reading) return this.sendLogoutForm(res);
        if (req.method === 'POST') return this.logout(req, res);
        break;
      case '/connect/authorize':
        if (reading) return this.authorize(req, res, url);
        break;
      default:
        return sendMessagePage(res, 404, 'Not found', `There is no page ${url.pathname} here.`);
    }
    sendMessagePage(res, 405, 'Method not allowed', `${url.pathname} does not take ${req.method} requests.`, undefined, { Allow: allowed(url.pathname) });
  }

  private async login(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.refusedCrossSite(req, res)) return;
    const form = await this.readForm(req, res);
    if (!form) return;
    const userName = (form.get('user') ?? '').trim();
    const next = safeNext(form.get('next'));
    const secret = (form.get('token') ?? '').trim();
    const found = secret ? await this.deps.identity.authenticate(secret) : undefined;
    if (!found || found.user.name !== userName) return this.sendForm(res, 401, { next, userName, error: 'Wrong user name or API token.' });
    if (!scopeAllows(found.token.scopes, 'api')) {
      return this.sendForm(res, 403, { next, userName, error: 'This API token may not sign in: it lacks the api scope.' });
    }
    await this.endWebLogins(req);
    const login = await this.deps.webLogins.create(found.user, this.deps.webLoginTtlS * 1000);
    res.writeHead(303, { Location: next, 'Set-Cookie': this.loginCookie(login, this.deps.webLoginTtlS), 'Cache-Control': 'no-store' });
    res.end();
  }

  private async logout(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.refusedCrossSite(req, res)) return;
    req.resume();
    await this.endWebLogins(req);
    res.writeHead(303, { Location: '/login', 'Set-Cookie': this.loginCookie('', 0), 'Cache-Control': 'no-store' });
    res.end();
  }

  private async authorize(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const sessionId = url.searchParams.get('session');
    const redirectUri = url.searchParams.get('redirect_uri');
    const state = url.searchParams.get('state');
    if (!sessionId || !redirectUri || !state || state.length > maxStateLength) {
      return sendMessagePage(res, 400, 'Bad sign-in request', 'A studio sign-in needs the parameters session, redirect_uri and state.');
    }
    const caller = await this.callerOf(req);
    if ('failure' in caller) return this.refuseCaller(res, caller.failure, url);
    const session = await this.deps.sessions.find(sessionId);
    if (!session) return sendMessagePage(res, 404, 'No such studio session', `There is no session ${sessionId}. It may have been deleted.`);
    const callback = studioCallbackUrl(this.deps.routing, session.id, this.deps.routing.platformBase(req));
    if (redirectUri !== callback) {
      return sendMessagePage(res, 400, 'Bad sign-in request', `redirect_uri must be the callback address of session ${session.id}, ${callback}.`);
    }
    if (!(await this.deps.sessions.mayConnect(session, caller.user))) {
      const otherUser = { href: `/login?next=${encodeURIComponent(url.pathname + url.search)}`, text: 'Sign in as someone else' };
      return sendMessagePage(res, 403, 'Not allowed', refusal(session, caller.user), otherUser);
    }
    const code = await this.deps.tokens.issueCode({ userId: caller.user.id, sessionId: session.id, redirectUri: callback });
    const location = new URL(callback);
    location.searchParams.set('code', code);
    location.searchParams.set('state', state);
    res.writeHead(302, { Location: location.toString(), 'Cache-Control': 'no-store', 'Referrer-Policy': 'no-referrer' });
    res.end();
  }

  /** Programs send an API token (`Authorization`); browsers carry the login cookie. */
  private async callerOf(req: IncomingMessage): Promise<Caller> {
    if (req.headers.authorization !== undefined) {
      const result = await apiLogin(this.deps.identity, req.headers.authorization);
      if ('caller' in result) return { user: result.caller.user };
      return { failure: result.failure === 'scope' ? 'scope' : 'invalid' };
    }
    for (const secret of cookieValues(req.headers.cookie, loginCookie)) {
      const user = await this.deps.webLogins.authenticate(secret);
      if (user) return { user };
    }
    return { failure: 'missing' };
  }

  private refuseCaller(res: ServerResponse, failure: 'missing' | 'invalid' | 'scope', url: URL): void {
    if (failure === 'missing') {
      res.writeHead(302, { Location: `/login?next=${encodeURIComponent(url.pathname + url.search)}`, 'Cache-Control': 'no-store' });
      return void res.end();
    }
    if (failure === 'scope') return sendMessagePage(res, 403, 'Not allowed', 'The API token in the Authorization header lacks the api scope.');
    sendMessagePage(res, 401, 'Not signed in', 'The Authorization header does not hold a valid API token.');
  }

  /** The form body of a POST, or undefined after answering: other content types and oversized bodies are refused. */
  private async readForm(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | undefined> {
    if (!(req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      req.resume();
      sendMessagePage(res, 415, 'Unsupported form', 'Send the form as application/x-www-form-urlencoded.');
      return undefined;
    }
    try {
      return new URLSearchParams((await readCapped(req, maxFormBytes)).toString('utf8'));
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) throw error;
      sendMessagePage(res, 413, 'Form too large', `A form may hold at most ${maxFormBytes} bytes.`);
      return undefined;
    }
  }

  /** A page on another site must not sign a browser in or out: a POST whose Origin is not ours is refused. */
  private refusedCrossSite(req: IncomingMessage, res: ServerResponse): boolean {
    const origin = req.headers.origin;
    if (origin === undefined || origin === new URL(this.deps.routing.platformBase(req)).origin) return false;
    req.resume();
    sendMessagePage(res, 403, 'Not allowed', 'This form may only be sent from Berth’s own pages.');
    return true;
  }

  /** Ends the web logins this browser carries: on logout, and before a new login replaces them. */
  private async endWebLogins(req: IncomingMessage): Promise<void> {
    for (const secret of cookieValues(req.headers.cookie, loginCookie)) await this.deps.webLogins.remove(secret);
  }

  private loginCookie(value: string, maxAgeS: number): string {
    return serializeCookie(loginCookie, value, { path: '/', maxAgeS, secure: this.deps.secureCookies ?? false });
  }

  private sendForm(res: ServerResponse, status: number, form: { next: string; userName?: string; error?: string }): void {
    const error = form.error ? `<p class="error" role="alert">${escapeHtml(form.error)}</p>\n` : '';
    const body = `${error}<form method="post" action="/login">
<input type="hidden" name="next" value="${escapeHtml(form.next)}">
<label for="user">User name</label>
<input id="user" name="user" autocomplete="username" required value="${escapeHtml(form.userName ?? '')}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>
<p>Sign in with one of your API tokens (<code>berth_…</code>, scope <code>api</code> or <code>*</code>).</p>`;
    sendHtmlPage(res, status, 'Sign in to Berth', body);
  }

  private sendLogoutForm(res: ServerResponse): void {
    sendHtmlPage(res, 200, 'Sign out of Berth', '<form method="post" action="/logout"><button type="submit">Sign out</button></form>');
  }
}

/** Where to go after signing in: a path on this very host, else `/` (never an open redirect). */
export function safeNext(raw: string | null): string {
  return raw && raw.length <= maxNextLength && isUnderPrefix(raw, '/') ? raw : '/';
}

function allowed(pathname: string): string {
  if (pathname === '/connect/authorize') return 'GET, HEAD';
  return 'GET, HEAD, POST';
}
