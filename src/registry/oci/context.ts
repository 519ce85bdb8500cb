import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RegistryAccess, Principal } from '../auth/access.ts';
import type { RepositoryName } from '../names.ts';
import type { Registry } from '../registry.ts';
import type { Uploads } from '../uploads.ts';

/** The services OCI handlers call; built once in the composition root. */
export interface OciServices {
  registry: Registry;
  uploads: Uploads;
  access: RegistryAccess;
  maxManifestBytes: number;
}

/** One request, as every OCI handler sees it. Created per request, never shared. */
export interface OciContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The external URL of this server, for Location headers. */
  base: string;
  principal: Principal;
  /** The repository the path names (name routes only). */
  name: RepositoryName;
  /** The last path element: digest, reference or upload id. */
  param: string;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
  services: OciServices;
}

export type OciHandler = (ctx: OciContext) => Promise<void>;

/** Writes a response with no body (or a small one), the way every OCI handler ends. */
export function reply(ctx: OciContext, status: number, headers: Record<string, string | number>, body?: Buffer | string): void {
  const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  ctx.res.writeHead(status, { 'Content-Length': payload?.length ?? 0, ...headers });
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : payload);
}

export function replyJson(ctx: OciContext, status: number, value: unknown, headers: Record<string, string> = {}): void {
  reply(ctx, status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(value));
}
