import type { IncomingHttpHeaders } from 'node:http';
import { studioRequest, type StudioResponse } from './studio-requests.ts';

/**
 * A GET of an absolute URL (a studio's or the platform's), sent to Berth's listener with the URL's host
 * in the Host header, as every leg of the login must be: `*.localhost` does not resolve in Node.
 */
export function getVia(berthUrl: string, url: string, headers: Record<string, string> = {}): Promise<StudioResponse> {
  const target = new URL(url);
  return studioRequest(berthUrl, target.host, target.pathname + target.search, { headers });
}

/** `name=value` of the first Set-Cookie header whose name starts with `prefix`, or undefined. */
export function setCookieNamed(headers: IncomingHttpHeaders, prefix: string): string | undefined {
  return headers['set-cookie']?.map((line) => line.split(';')[0]!).find((pair) => pair.startsWith(prefix));
}

/**
 * Signs in to a studio the way a browser does, with an API token in place of the login page:
 * studio (302 to the platform's authorize, state cookie) → authorize (302 back with a code) →
 * the studio's callback (studio cookie). Returns the Cookie header value that opens the studio.
 */
export async function loginToStudio(input: { berthUrl: string; studioUrl: string; apiToken: string }): Promise<string> {
  const navigation = { accept: 'text/html' };
  const start = await getVia(input.berthUrl, input.studioUrl, navigation);
  const stateCookie = setCookieNamed(start.headers, 'berth_state_');
  if (start.status !== 302 || !start.headers.location || !stateCookie) throw unexpected('opening the studio', start);

  const authorizeUrl = new URL(start.headers.location, input.studioUrl).toString();
  const authorized = await getVia(input.berthUrl, authorizeUrl, { ...navigation, authorization: `Bearer ${input.apiToken}` });
  if (authorized.status !== 302 || !authorized.headers.location) throw unexpected('authorizing', authorized);

  const callbackUrl = new URL(authorized.headers.location, authorizeUrl).toString();
  const callback = await getVia(input.berthUrl, callbackUrl, { ...navigation, cookie: stateCookie });
  const studioCookie = setCookieNamed(callback.headers, 'berth_studio=');
  if (callback.status !== 302 || !studioCookie) throw unexpected('the studio callback', callback);
  return studioCookie;
}

function unexpected(step: string, response: StudioResponse): Error {
  return new Error(`studio login failed at ${step}: HTTP ${response.status} ${JSON.stringify(response.headers)} ${response.text.slice(0, 500)}`);
}
