import { STATUS_CODES, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The proxy's and the login's own pages (unknown session, session not running, sign-in form): small,
 * self-contained HTML a person understands — no scripts, no external assets, never framed or cached.
 */
const pageHeaders: OutgoingHttpHeaders = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

function pageHtml(title: string, bodyHtml: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Berth</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1d2433}
h1{font-size:1.4rem}p{color:#4a5468}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;box-sizing:border-box;font:inherit}
button{margin-top:1rem;padding:.4rem 1.2rem;font:inherit}.error{color:#a00}</style></head>
<body><h1>${escapeHtml(title)}</h1>
${bodyHtml}
</body></html>
`;
}

/** A page with links or a form; `bodyHtml` must already be escaped. */
export function sendHtmlPage(res: ServerResponse, status: number, title: string, bodyHtml: string, headers: OutgoingHttpHeaders = {}): void {
  const html = pageHtml(title, bodyHtml);
  res.writeHead(status, { ...pageHeaders, 'Content-Length': Buffer.byteLength(html), ...headers });
  res.end(html);
}

/** A page that says one thing, with an optional link onward. */
export function sendMessagePage(
  res: ServerResponse,
  status: number,
  title: string,
  message: string,
  link?: { href: string; text: string },
  headers: OutgoingHttpHeaders = {},
): void {
  sendHtmlPage(res, status, title, messageHtml(message, link), headers);
}

/** The same message page written as a raw HTTP/1.1 response on an upgrade's socket, which is then closed. */
export function endSocketWithPage(socket: Duplex, status: number, title: string, message: string, headers: Record<string, string> = {}): void {
  const html = pageHtml(title, messageHtml(message));
  const all: OutgoingHttpHeaders = { ...pageHeaders, ...headers, 'Content-Length': Buffer.byteLength(html), Connection: 'close' };
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`, ...Object.entries(all).map(([name, value]) => `${name}: ${String(value)}`)];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${html}`);
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function messageHtml(message: string, link?: { href: string; text: string }): string {
  const onward = link ? `\n<p><a href="${escapeHtml(link.href)}">${escapeHtml(link.text)}</a></p>` : '';
  return `<p>${escapeHtml(message)}</p>${onward}`;
}
