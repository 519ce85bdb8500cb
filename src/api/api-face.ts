import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge } from '../http/body.ts';
import { apiLogin, type ApiLoginFailure } from '../identity/api-login.ts';
import { IdentityError } from '../identity/errors.ts';
import type { Authenticated, IdentityStore } from '../identity/identity-store.ts';
import { RegistryError } from '../registry/errors.ts';
import { StudiosDisabledError } from '../studios/workspaces/studios-access.ts';
import { ApiError, sendJson, type ApiContext } from './api-context.ts';

export type ApiHandler = (ctx: ApiContext) => Promise<void>;

export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  pattern: RegExp;
  handler: ApiHandler;
}

const loginErrors: Record<ApiLoginFailure, ApiError> = {
  missing: new ApiError(401, 'UNAUTHORIZED', 'send an API token: Authorization: Bearer berth_…'),
  invalid: new ApiError(401, 'UNAUTHORIZED', 'the API token is unknown, revoked or expired'),
  scope: new ApiError(403, 'FORBIDDEN', 'this token is not allowed to use the API (scope "api")'),
};

const identityStatus: Record<IdentityError['code'], number> = { NOT_FOUND: 404, CONFLICT: 409, INVALID: 400, FORBIDDEN: 403 };

/**
 * The management API under `/api/`. Every route requires an API token with the `api` scope
 * (`Authorization: Bearer berth_…`, or basic auth with the user name); errors are
 * `{"error":{"code","message"}}`.
 */
export class ApiFace {
  constructor(
    private readonly identity: IdentityStore,
    private readonly routes: ApiRoute[],
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://api.invalid');
    try {
      const caller = await this.authenticate(req);
      const { route, params } = this.match(req.method ?? 'GET', url.pathname);
      await route.handler({ req, res, url, caller, params });
    } catch (error) {
      const api = toApiError(error);
      if (!api) throw error;
      if (!req.complete) req.resume();
      if (api.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="berth"');
      sendJson(res, api.status, { error: { code: api.code, message: api.message } });
    }
  }

  private async authenticate(req: IncomingMessage): Promise<Authenticated> {
    const login = await apiLogin(this.identity, req.headers.authorization);
    if ('caller' in login) return login.caller;
    throw loginErrors[login.failure];
  }


  private match(method: string, path: string): { route: ApiRoute; params: string[] } {
    let pathMatched = false;
    for (const route of this.routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      pathMatched = true;
      if (route.method === method) return { route, params: match.slice(1).map((p) => decodeURIComponent(p)) };
    }
    if (pathMatched) throw new ApiError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`);
    throw new ApiError(404, 'NOT_FOUND', `no API endpoint ${path}`);
  }
}

function toApiError(error: unknown): ApiError | undefined {
  if (error instanceof ApiError) return error;
  if (error instanceof IdentityError) return new ApiError(identityStatus[error.code], error.code, error.message);
  if (error instanceof BodyTooLarge) return new ApiError(413, 'BODY_TOO_LARGE', error.message);
  if (error instanceof RegistryError) return new ApiError(registryStatus(error), error.kind, error.message);
  if (error instanceof StudiosDisabledError) return new ApiError(403, error.code, error.message);
  if (error instanceof URIError) return new ApiError(400, 'INVALID_PATH', 'the path is not valid percent-encoding');
  return undefined;
}

function registryStatus(error: RegistryError): number {
  if (/NotFound|Unknown$/.test(error.kind)) return 404;
  if (/AlreadyExists$/.test(error.kind)) return 409;
  if (error.kind === 'Denied') return 403;
  if (error.kind === 'UpstreamUnavailable') return 502;
  return 400;
}
