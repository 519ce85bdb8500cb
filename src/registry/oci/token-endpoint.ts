import type { IncomingMessage, ServerResponse } from 'node:http';
import { readAuthorization } from '../../http/basic-auth.ts';
import { readCapped } from '../../http/body.ts';
import type { RegistryAccess } from '../auth/access.ts';
import type { Login, Logins } from '../auth/logins.ts';
import type { RegistryTokens } from '../auth/registry-tokens.ts';
import { formatScope, parseScopes } from '../auth/scope.ts';
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
    private readonly logins: Logins,
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
    let login: Login | undefined;
    if (credentials.scheme === 'basic') {
      login = await this.logins.withPassword(credentials.username, credentials.password);
      if (!login) throw badCredentials();
    } else if (credentials.scheme !== 'none') {
      throw badCredentials();
    }
    const offline = url.searchParams.get('offline_token') === 'true';
    await this.respond(res, login, url.searchParams.getAll('scope'), offline);
  }

  private async post(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams((await readCapped(req, maxFormBytes)).toString('utf8'));
    const grantType = form.get('grant_type');
    let login: Login | undefined;
    if (grantType === 'password') {
      login = await this.logins.withPassword(form.get('username') ?? '', form.get('password') ?? '');
    } else if (grantType === 'refresh_token') {
      login = await this.logins.withRefreshToken(form.get('refresh_token') ?? '');
    } else {
      throw new OciError('UNSUPPORTED', `unsupported grant_type "${(grantType ?? '').slice(0, 40)}"; use password or refresh_token`, undefined, 400);
    }
    if (!login) throw badCredentials();
    await this.respond(res, login, [form.get('scope') ?? ''], true);
  }

  private async respond(
    res: ServerResponse,
    login: Login | undefined,
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
      scope: granted.map(formatScope).join(' '),
    };
    if (login && wantsRefresh) {
      body.refresh_token = await this.tokens.issueRefresh({ userId: login.actor.user.id, credential: login.credential }, login.actor.user.name);
    }
    const json = JSON.stringify(body);
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(json), 'Cache-Control': 'no-store' });
    res.end(json);
  }
}

function badCredentials(): OciError {
  return new OciError('UNAUTHORIZED', 'incorrect username or password');
}
