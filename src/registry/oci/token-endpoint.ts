import type { IncomingMessage, ServerResponse } from 'node:http';
import { readAuthorization } from '../../http/basic-auth.ts';
import { readCapped } from '../../http/body.ts';
import type { IdentityStore } from '../../identity/identity-store.ts';
import type { Actor, RegistryAccess } from '../auth/access.ts';
import type { RegistryTokens } from '../auth/registry-tokens.ts';
import { parseScopes } from '../auth/scope.ts';
import { sendOciError, OciError } from './errors.ts';

const maxFormBytes = 64 * 1024;

/**
 * The Docker registry token endpoint (`/v2/token`): GET with optional basic auth, and the OAuth2
 * POST form with `grant_type=password` or `refresh_token`. A signed-in request with
 * `offline_token=true` (GET) or `access_type=offline` / any password grant (POST) also gets a
 * refresh token, which `docker login` stores instead of the password.
 */
export class TokenEndpoint {
  constructor(
    private readonly identity: IdentityStore,
    private readonly access: RegistryAccess,
    private readonly tokens: RegistryTokens,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    try {
      if (req.method === 'GET') return await this.get(req, res, url);
      if (req.method === 'POST') return await this.post(req, res);
      throw new OciError('UNSUPPORTED', 'use GET or POST on the token endpoint');
    } catch (error) {
      if (!(error instanceof OciError)) throw error;
      sendOciError(res, error, false);
    }
  }

  private async get(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const credentials = readAuthorization(req.headers.authorization);
    let login: Awaited<ReturnType<TokenEndpoint['login']>> | undefined;
    if (credentials.scheme === 'basic') login = await this.login(credentials.username, credentials.password);
    else if (credentials.scheme !== 'none') throw badCredentials();
    const offline = url.searchParams.get('offline_token') === 'true';
    await this.respond(res, login, url.searchParams.getAll('scope'), offline);
  }

  private async post(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams((await readCapped(req, maxFormBytes)).toString('utf8'));
    const grantType = form.get('grant_type');
    let login: Awaited<ReturnType<TokenEndpoint['login']>>;
    if (grantType === 'password') {
      login = await this.login(form.get('username') ?? '', form.get('password') ?? '');
    } else if (grantType === 'refresh_token') {
      login = await this.refresh(form.get('refresh_token') ?? '');
    } else {
      throw new OciError('UNSUPPORTED', `unsupported grant_type "${(grantType ?? '').slice(0, 40)}"; use password or refresh_token`, undefined, 400);
    }
    await this.respond(res, login, [form.get('scope') ?? ''], true);
  }

  private async respond(
    res: ServerResponse,
    login: { actor: Actor; apiTokenId: string } | undefined,
    scopes: string[],
    wantsRefresh: boolean,
  ): Promise<void> {
    const granted = await this.access.grant(login?.actor, parseScopes(scopes));
    const issued = await this.tokens.issueAccess(login?.actor.user, granted);
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString(),
      scope: granted.map((g) => `${g.type}:${g.name}:${g.actions.join(',')}`).join(' '),
    };
    if (login && wantsRefresh) {
      body.refresh_token = await this.tokens.issueRefresh({ userId: login.actor.user.id, apiTokenId: login.apiTokenId }, login.actor.user.name);
    }
    const json = JSON.stringify(body);
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), 'Cache-Control': 'no-store' });
    res.end(json);
  }

  /** A user name with one of that user's API tokens as the password. */
  private async login(username: string, password: string): Promise<{ actor: Actor; apiTokenId: string }> {
    const found = await this.identity.authenticate(password);
    if (!found || found.user.name !== username) throw badCredentials();
    return { actor: { user: found.user, scopes: found.token.scopes }, apiTokenId: found.token.id };
  }

  private async refresh(refreshToken: string): Promise<{ actor: Actor; apiTokenId: string }> {
    const claims = await this.tokens.verifyRefresh(refreshToken);
    const token = claims && (await this.identity.findApiToken(claims.apiTokenId));
    const user = token && token.userId === claims.userId ? await this.identity.findUserById(claims.userId) : undefined;
    if (!claims || !token || !user || (token.expiresAt !== null && token.expiresAt <= Date.now())) throw badCredentials();
    return { actor: { user, scopes: token.scopes }, apiTokenId: token.id };
  }
}

function badCredentials(): OciError {
  return new OciError('UNAUTHORIZED', 'incorrect username or password');
}
