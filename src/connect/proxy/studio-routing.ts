import type { IncomingMessage } from 'node:http';
import { externalBase } from '../../http/request-base.ts';
import { sessionIdPattern } from '../connect-sessions.ts';

/** Under path routing every studio lives below `/_studio/<sessionId>/` of the platform's own host. */
export const studioPathPrefix = '/_studio/';

export interface StudioRoutingConfig {
  /** Sessions are `<sessionId>.<studioDomain>`. */
  studioDomain: string;
  pathRouting: boolean;
  /** The platform's configured public URL (server.publicUrl), if any. */
  publicUrl?: string;
}

export interface StudioTarget {
  sessionId: string;
  /** `/` under subdomain routing, `/_studio/<id>/` under path routing: what the tool serves below. */
  prefix: string;
  /** The path without a trailing slash after the session id, e.g. `/_studio/abc`: answer with a redirect. */
  needsSlash: boolean;
}

/**
 * Which studio a request is for, and the URLs of studios and of the platform. Subdomain routing gives
 * every session its own browser origin; path routing shares the platform's.
 */
export class StudioRouting {
  private readonly hostSuffix: string;

  constructor(private readonly config: StudioRoutingConfig) {
    this.hostSuffix = `.${config.studioDomain}`;
  }

  get pathRouting(): boolean {
    return this.config.pathRouting;
  }

  /** The studio a request addresses, or undefined for a request to the platform itself. */
  targetOf(req: IncomingMessage): StudioTarget | undefined {
    return this.config.pathRouting ? this.byPath(req.url ?? '/') : this.byHost(req.headers.host);
  }

  /** The platform's base URL (no trailing slash) as the client of this request sees it. */
  platformBase(req: IncomingMessage): string {
    const base = externalBase(req, this.config.publicUrl);
    if (this.config.pathRouting || this.config.publicUrl) return base;
    const target = this.byHost(req.headers.host);
    return target ? base.replace(`//${target.sessionId}.`, '//') : base;
  }

  /** Where users open a session, e.g. http://abc.localhost:8080/ or http://host:8080/_studio/abc/. */
  studioUrl(sessionId: string, platformBase: string): string {
    if (this.config.pathRouting) return `${platformBase}${studioPathPrefix}${sessionId}/`;
    const platform = new URL(platformBase);
    return `${platform.protocol}//${sessionId}${this.hostSuffix}${platform.port ? `:${platform.port}` : ''}/`;
  }

  /** The path prefix the tool serves below (`CONNECT_TOOL_PATH_PREFIX`), `/` under subdomain routing. */
  toolPathPrefix(sessionId: string): string {
    return this.config.pathRouting ? `${studioPathPrefix}${sessionId}/` : '/';
  }

  private byHost(host: string | undefined): StudioTarget | undefined {
    if (!host) return undefined;
    const name = host.toLowerCase().replace(/:\d+$/, '');
    if (!name.endsWith(this.hostSuffix)) return undefined;
    const label = name.slice(0, -this.hostSuffix.length);
    if (!sessionIdPattern.test(label)) return undefined;
    return { sessionId: label, prefix: '/', needsSlash: false };
  }

  private byPath(url: string): StudioTarget | undefined {
    if (!url.startsWith(studioPathPrefix)) return undefined;
    const rest = url.slice(studioPathPrefix.length);
    const end = rest.search(/[/?]/);
    const sessionId = end < 0 ? rest : rest.slice(0, end);
    if (!sessionIdPattern.test(sessionId)) return undefined;
    return { sessionId, prefix: `${studioPathPrefix}${sessionId}/`, needsSlash: end < 0 || rest[end] === '?' };
  }
}
