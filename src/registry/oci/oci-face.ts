import type { IncomingMessage, ServerResponse } from 'node:http';
import { readAuthorization } from '../../http/basic-auth.ts';
import { externalBase } from '../../http/request-base.ts';
import type { Principal } from '../auth/access.ts';
import type { Logins } from '../auth/logins.ts';
import type { RegistryTokens } from '../auth/registry-tokens.ts';
import type { RepositoryAction } from '../auth/scope.ts';
import { isRegistryError } from '../errors.ts';
import { parseRepositoryName, type RepositoryName } from '../names.ts';
import { deleteBlob, getBlob } from './blobs.ts';
import type { OciContext, OciHandler, OciServices } from './context.ts';
import { OciError, sendOciError, toOciError } from './errors.ts';
import { listCatalog, listTags } from './listings.ts';
import { deleteManifest, getManifest, getReferrers, putManifest } from './manifests.ts';
import type { TokenEndpoint } from './token-endpoint.ts';
import { cancelUpload, completeUpload, patchUpload, startUpload, uploadStatus } from './uploads.ts';

type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

interface NameRoute {
  pattern: RegExp;
  methods: Partial<Record<Method, OciHandler>>;
}

/** Each route matches `/v2/<name>/<suffix>`; the name is checked with the spec's grammar afterwards. */
const nameRoutes: NameRoute[] = [
  { pattern: /^\/v2\/(.+)\/tags\/list$/, methods: { GET: listTags } },
  { pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/, methods: { GET: getManifest, HEAD: getManifest, PUT: putManifest, DELETE: deleteManifest } },
  { pattern: /^\/v2\/(.+)\/blobs\/uploads\/?()$/, methods: { POST: startUpload } },
  {
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: { GET: uploadStatus, PATCH: patchUpload, PUT: completeUpload, DELETE: cancelUpload },
  },
  { pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/, methods: { GET: getBlob, HEAD: getBlob, DELETE: deleteBlob } },
  { pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/, methods: { GET: getReferrers } },
];

const actionOf: Record<Method, RepositoryAction> = { GET: 'pull', HEAD: 'pull', PUT: 'push', POST: 'push', PATCH: 'push', DELETE: 'delete' };

export interface OciFaceOptions {
  service: string;
  publicUrl?: string;
}

/**
 * The OCI Distribution API under `/v2/`. One wrapper authenticates, authorizes by repository
 * and action, and writes errors in the spec's format, so handlers only do their resource's work.
 */
export class OciFace {
  constructor(
    private readonly services: OciServices,
    private readonly logins: Logins,
    private readonly tokens: RegistryTokens,
    private readonly tokenEndpoint: TokenEndpoint,
    private readonly options: OciFaceOptions,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const url = new URL(req.url ?? '/', 'http://registry.invalid');
    const base = externalBase(req, this.options.publicUrl);
    const head = req.method === 'HEAD';
    try {
      if (url.pathname === '/v2/token') return await this.tokenEndpoint.handle(req, res, url);
      const principal = await this.authenticate(req, base);
      if (url.pathname === '/v2/' || url.pathname === '/v2') return this.base(res, principal, base);
      if (url.pathname === '/v2/_catalog') return await this.dispatch(req, res, url, base, principal, listCatalog);
      await this.route(req, res, url, base, principal);
    } catch (error) {
      const oci = toOciError(error);
      if (!oci) throw error;
      if (oci.status === 401 && !oci.headers['WWW-Authenticate']) oci.headers['WWW-Authenticate'] = this.challenge(base);
      sendOciError(res, oci, head);
      if (!req.complete) req.resume();
    }
  }

  private base(res: ServerResponse, principal: Principal, base: string): void {
    if (principal.kind === 'anonymous') throw this.unauthorized(base);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 });
    res.end('{}');
  }

  private async route(req: IncomingMessage, res: ServerResponse, url: URL, base: string, principal: Principal): Promise<void> {
    const path = decodePath(url.pathname);
    for (const route of nameRoutes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      const handler = route.methods[req.method as Method];
      if (!handler) throw new OciError('UNSUPPORTED', `${req.method} is not supported here`);
      const name = parseRepositoryName(match[1]!);
      await this.authorize(principal, name, actionOf[req.method as Method], base);
      return this.dispatch(req, res, url, base, principal, handler, name, match[2]!);
    }
    throw new OciError('NAME_UNKNOWN', `no registry endpoint at ${path.slice(0, 200)}`, undefined, 404);
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    base: string,
    principal: Principal,
    handler: OciHandler,
    name: RepositoryName = { full: '', workspace: '', path: '' },
    param = '',
  ): Promise<void> {
    const aborter = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) aborter.abort();
    };
    res.once('close', onClose);
    const ctx: OciContext = { req, res, url, base, principal, name, param, signal: aborter.signal, services: this.services };
    try {
      await handler(ctx);
    } finally {
      res.off('close', onClose);
    }
  }

  private async authenticate(req: IncomingMessage, base: string): Promise<Principal> {
    const credentials = readAuthorization(req.headers.authorization);
    switch (credentials.scheme) {
      case 'none':
        return { kind: 'anonymous' };
      case 'bearer': {
        const claims = await this.tokens.verifyAccess(credentials.token);
        if (!claims) throw this.unauthorized(base, 'invalid_token', 'the bearer token is invalid or expired');
        return { kind: 'bearer', claims };
      }
      case 'basic': {
        const login = await this.logins.withPassword(credentials.username, credentials.password);
        if (!login) throw this.unauthorized(base, undefined, 'incorrect username or password');
        return { kind: 'user', user: login.actor.user, scopes: login.actor.scopes, credential: login.credential };
      }
      default:
        throw this.unauthorized(base, 'invalid_request', 'unsupported Authorization header');
    }
  }

  /**
   * Refusals follow the token protocol: without credentials, or with a token that lacks the
   * scope, 401 and a challenge naming the scope (so clients fetch a better token); a signed-in
   * user without the right gets 403. A workspace that does not exist is NAME_UNKNOWN for pulls.
   */
  private async authorize(principal: Principal, name: RepositoryName, action: RepositoryAction, base: string): Promise<void> {
    if (await this.services.access.may(principal, name, action)) return;
    const scope = `repository:${name.full}:${action === 'pull' ? 'pull' : 'pull,push'}${action === 'delete' ? ',delete' : ''}`;
    if (principal.kind === 'anonymous') throw this.unauthorized(base, undefined, undefined, scope);
    const workspaceExists = await this.services.registry.workspaceOf(name).then(
      () => true,
      (error) => (isRegistryError(error, 'NameUnknown') ? false : Promise.reject(error)),
    );
    if (!workspaceExists) {
      if (action === 'pull') throw new OciError('NAME_UNKNOWN', `no workspace "${name.workspace}"`, { name: name.full });
      throw new OciError('DENIED', `no workspace "${name.workspace}": push to <your workspace>/${name.path}`, { name: name.full });
    }
    if (principal.kind === 'bearer') throw this.unauthorized(base, 'insufficient_scope', `token does not grant ${action} on ${name.full}`, scope);
    throw new OciError('DENIED', `${action} on ${name.full} is not allowed for ${principal.kind === 'user' ? principal.user.name : 'you'}`, {
      name: name.full,
      action,
    });
  }

  private unauthorized(base: string, error?: string, message?: string, scope?: string): OciError {
    return new OciError('UNAUTHORIZED', message, undefined, 401, { 'WWW-Authenticate': this.challenge(base, scope, error) });
  }

  private challenge(base: string, scope?: string, error?: string): string {
    const parts = [`realm="${base}/v2/token"`, `service="${this.options.service}"`];
    if (scope) parts.push(`scope="${scope}"`);
    if (error) parts.push(`error="${error}"`);
    return `Bearer ${parts.join(',')}`;
  }
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw new OciError('NAME_INVALID', 'the path is not valid percent-encoding');
  }
}
