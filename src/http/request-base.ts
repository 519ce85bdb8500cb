import type { IncomingMessage } from 'node:http';

/**
 * The URL clients reached us at, for Location headers and token realms: the configured public
 * URL, else the request's Host. Never trusts X-Forwarded-* unless a public URL is configured.
 */
export function externalBase(req: IncomingMessage, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const host = req.headers.host ?? `${req.socket.localAddress}:${req.socket.localPort}`;
  return `http://${host}`;
}
