import { algorithmOf, digestOf, isDigest, type Digest } from '../digest.ts';
import {
  UpstreamError,
  UpstreamNotFound,
  UpstreamProtocolError,
  UpstreamRateLimited,
  UpstreamUnauthorized,
  UpstreamUnreachable,
} from './upstream-errors.ts';

export interface UpstreamOptions {
  /** Where the registry answers `/v2/`: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  url: string;
  /** A user name and password or access token, sent to the upstream's Basic challenge or token server. */
  credentials?: { username: string; password: string };
  /** Longest wait for response headers, and for each further chunk of a body. Default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
}

export interface UpstreamManifest {
  bytes: Buffer;
  digest: Digest;
  mediaType: string;
}

export interface UpstreamManifestHead {
  digest: Digest;
  mediaType: string;
  size: number;
}

export interface UpstreamBlob {
  size: number;
  /** The bytes as they arrive; stopping the iteration early releases the connection. */
  body: AsyncIterable<Uint8Array>;
}

const defaultTimeoutMs = 30_000;
const maxManifestBytes = 4 * 1024 * 1024;
const maxTokenResponseBytes = 64 * 1024;
/** Enough of an error body to quote the registry's own error code and message. */
const maxErrorBodyBytes = 8 * 1024;
const maxRedirects = 5;
/** The token spec's default when a token server gives no `expires_in`. */
const defaultTokenLifetimeS = 60;
/** Tokens are dropped a little before they expire, so that none expires on its way to the upstream. */
const tokenExpiryMarginMs = 5_000;
/** One token per repository scope; the oldest is dropped beyond this. */
const maxCachedTokens = 1_000;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const gatewayStatuses = new Set([502, 503, 504]);
const genericContentTypes = new Set(['', 'application/json', 'application/octet-stream', 'text/plain']);

type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

interface Token {
  value: string;
  expiresAt: number;
}

interface UpstreamRequest {
  method: 'GET' | 'HEAD';
  path: string;
  /** Token scope the request needs (`repository:NAME:pull`); none for `/v2/`. */
  scope?: string;
  accept?: string[];
  signal?: AbortSignal;
}

/**
 * A client for one upstream OCI registry, as the pull-through cache needs it: manifests (HEAD
 * first, to spare rate limits), blobs as streams, and a ping that says what is wrong. It answers
 * the upstream's challenge (Basic, or the Bearer token dance) and keeps tokens per scope until they
 * expire. All state (the last challenge, tokens) belongs to the instance. Failures are the typed
 * errors of `upstream-errors.ts`; a request aborted through its signal rejects with the signal's reason.
 */
export class UpstreamRegistry {
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  /** The challenge the upstream last sent: answered up front, so that later requests are not refused first. */
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Promise<Token>>();

  constructor(private readonly options: UpstreamOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`upstream URL must be http or https, not ${url.protocol}`);
    if (url.username || url.password) throw new TypeError('give upstream credentials as options.credentials, not in the URL');
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    this.userAgent = options.userAgent ?? 'berth-pullthrough';
  }

  /** Resolves when `/v2/` answers 200 with our credentials; rejects with an UpstreamError naming the problem. */
  async ping(): Promise<void> {
    const exchange = await this.send({ method: 'GET', path: '/v2/' });
    if (exchange.response.ok) return exchange.discard();
    if (exchange.response.status === 404) {
      await exchange.discard();
      throw new UpstreamProtocolError(this.base, `${this.base} is not an OCI registry: GET /v2/ answered 404`, 404);
    }
    throw await this.failure(exchange, 'the registry API');
  }

  /** Digest, media type and size of a manifest without fetching it; undefined when the upstream has no such manifest. */
  async headManifest(repository: string, reference: string, accept: string[]): Promise<UpstreamManifestHead | undefined> {
    const exchange = await this.send({ method: 'HEAD', path: manifestPath(repository, reference), scope: pullScope(repository), accept });
    if (exchange.response.status === 404) return exchange.discard().then(() => undefined);
    if (!exchange.response.ok) throw await this.failure(exchange, `manifest ${repository}:${reference}`);
    await exchange.discard();
    const headers = exchange.response.headers;
    const announced = headers.get('docker-content-digest') ?? '';
    const digest = isDigest(reference) ? reference : isDigest(announced) ? announced : undefined;
    const size = Number(headers.get('content-length') ?? NaN);
    const mediaType = contentType(headers);
    // Not every registry answers HEAD fully; one GET is then the only way to learn what the tag is.
    if (!digest || !Number.isSafeInteger(size) || genericContentTypes.has(mediaType)) {
      const manifest = await this.getManifest(repository, reference, accept);
      return manifest && { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
    }
    return { digest, mediaType, size };
  }

  /**
   * A manifest's bytes, checked against the digest asked for (or the one the upstream announced),
   * at most 4 MiB; undefined when the upstream has no such manifest.
   */
  async getManifest(repository: string, reference: string, accept: string[]): Promise<UpstreamManifest | undefined> {
    const what = `manifest ${repository}:${reference}`;
    const exchange = await this.send({ method: 'GET', path: manifestPath(repository, reference), scope: pullScope(repository), accept });
    if (exchange.response.status === 404) return exchange.discard().then(() => undefined);
    if (!exchange.response.ok) throw await this.failure(exchange, what);
    const bytes = await exchange.readCapped(maxManifestBytes, what);
    const announced = exchange.response.headers.get('docker-content-digest') ?? '';
    const expected = isDigest(reference) ? reference : isDigest(announced) ? announced : undefined;
    if (expected && digestOf(bytes, algorithmOf(expected)) !== expected) {
      throw new UpstreamProtocolError(this.base, `${what} does not hash to ${expected}`);
    }
    const digest = isDigest(reference) ? reference : digestOf(bytes);
    return { bytes, digest, mediaType: manifestMediaType(exchange.response.headers, bytes) };
  }

  /**
   * Streams a blob, following redirects (to a storage host, say) without sending our Authorization
   * there. Rejects with UpstreamNotFound when the upstream has no such blob. The bytes are not
   * verified here: the caller hashes them as they land.
   */
  async getBlob(repository: string, digest: string, signal?: AbortSignal): Promise<UpstreamBlob> {
    const what = `blob ${digest} of ${repository}`;
    const exchange = await this.send({ method: 'GET', path: `/v2/${encodeName(repository)}/blobs/${encodeURIComponent(digest)}`, scope: pullScope(repository), signal });
    if (!exchange.response.ok) throw await this.failure(exchange, what);
    const size = Number(exchange.response.headers.get('content-length') ?? NaN);
    if (!Number.isSafeInteger(size) || size < 0) {
      await exchange.discard();
      throw new UpstreamProtocolError(this.base, `${what} came without a Content-Length`, exchange.response.status);
    }
    return { size, body: exchange.body() };
  }

  /** Sends a request, answering the upstream's challenge and retrying once with fresh credentials when refused. */
  private async send(request: UpstreamRequest): Promise<Exchange> {
    const first = await this.sendWithAuthorization(request, undefined);
    if (first.exchange.response.status !== 401) return this.refusedOr(first.exchange);
    const challenge = parseChallenge(first.exchange.response.headers.get('www-authenticate'));
    await first.exchange.discard();
    if (!challenge) throw new UpstreamProtocolError(this.base, `${this.base} answered 401 without a challenge Berth can answer`, 401);
    this.challenge = challenge;
    const second = await this.sendWithAuthorization(request, first.bearer);
    if (second.exchange.response.status === 401) {
      await second.exchange.discard();
      throw new UpstreamUnauthorized(this.base, `${this.base} refused the ${this.options.credentials ? 'configured credentials' : 'anonymous request'}`);
    }
    return this.refusedOr(second.exchange);
  }

  private async refusedOr(exchange: Exchange): Promise<Exchange> {
    if (exchange.response.status !== 403) return exchange;
    throw await this.failure(exchange, 'the request');
  }

  /** `rejectedBearer` is a token the upstream just refused: a fresh one is fetched instead of reusing it. */
  private async sendWithAuthorization(request: UpstreamRequest, rejectedBearer: string | undefined): Promise<{ exchange: Exchange; bearer?: string }> {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent };
    if (request.accept?.length) headers.Accept = request.accept.join(', ');
    let bearer: string | undefined;
    const challenge = this.challenge;
    if (challenge?.scheme === 'basic') {
      if (!this.options.credentials) throw new UpstreamUnauthorized(this.base, `${this.base} requires credentials and none are configured`);
      headers.Authorization = basicAuthorization(this.options.credentials);
    } else if (challenge?.scheme === 'bearer') {
      bearer = await this.bearerToken(challenge, request.scope ?? challenge.scope, rejectedBearer);
      headers.Authorization = `Bearer ${bearer}`;
    }
    const exchange = await this.fetchFollowingRedirects(new URL(`${this.base}${request.path}`), request.method, headers, request.signal);
    return { exchange, bearer };
  }

  private async bearerToken(challenge: Challenge & { scheme: 'bearer' }, scope: string | undefined, rejected: string | undefined): Promise<string> {
    const key = `${challenge.realm} ${challenge.service ?? ''} ${scope ?? ''}`;
    const cached = this.tokens.get(key);
    if (cached) {
      const token = await cached;
      if (token.value !== rejected && token.expiresAt > Date.now()) return token.value;
      // Another request may already have replaced the refused or expired token.
      if (this.tokens.get(key) !== cached) return this.bearerToken(challenge, scope, rejected);
      this.tokens.delete(key);
    }
    const fetching = this.fetchToken(challenge, scope);
    if (this.tokens.size >= maxCachedTokens) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(key, fetching);
    fetching.catch(() => this.tokens.get(key) === fetching && this.tokens.delete(key));
    return (await fetching).value;
  }

  /** The token dance: GET the challenge's realm for the scope, with our credentials as Basic auth when we have some. */
  private async fetchToken(challenge: Challenge & { scheme: 'bearer' }, scope: string | undefined): Promise<Token> {
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = { 'User-Agent': this.userAgent };
    if (this.options.credentials) headers.Authorization = basicAuthorization(this.options.credentials);
    const exchange = await this.fetchOnce(url, 'GET', headers, undefined);
    if (exchange.response.status === 401 || exchange.response.status === 403) {
      await exchange.discard();
      throw new UpstreamUnauthorized(this.base, `the token server of ${this.base} refused the ${this.options.credentials ? 'configured credentials' : 'anonymous request'}`);
    }
    if (!exchange.response.ok) throw await this.failure(exchange, 'a token');
    const body = parseJson(await exchange.readCapped(maxTokenResponseBytes, 'the token response')) ?? {};
    const { token, access_token: accessToken, expires_in: expiresIn } = body;
    const value = typeof token === 'string' && token ? token : typeof accessToken === 'string' ? accessToken : '';
    if (!value) throw new UpstreamProtocolError(this.base, `the token server of ${this.base} answered without a token`);
    const lifetimeS = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : defaultTokenLifetimeS;
    return { value, expiresAt: Date.now() + lifetimeS * 1000 - tokenExpiryMarginMs };
  }

  /** Follows redirects by hand: a hop to another origin (a CDN, a signed storage URL) gets no Authorization. */
  private async fetchFollowingRedirects(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, signal?: AbortSignal): Promise<Exchange> {
    const origin = new URL(this.base).origin;
    let target = url;
    for (let hops = 0; ; hops++) {
      const { Authorization: authorization, ...anonymous } = headers;
      const exchange = await this.fetchOnce(target, method, target.origin === origin && authorization ? headers : anonymous, signal);
      if (!redirectStatuses.has(exchange.response.status)) return exchange;
      const location = exchange.response.headers.get('location');
      await exchange.discard();
      if (!location) throw new UpstreamProtocolError(this.base, `${this.base} redirected without a Location`, exchange.response.status);
      if (hops >= maxRedirects) throw new UpstreamProtocolError(this.base, `${this.base} redirected more than ${maxRedirects} times`);
      target = new URL(location, target);
    }
  }

  private async fetchOnce(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Exchange> {
    const stall = new StallTimer(this.timeoutMs);
    const context: ExchangeContext = { upstream: this.base, timeoutMs: this.timeoutMs, stall, caller: signal };
    stall.arm();
    try {
      const response = await fetch(url, { method, headers, redirect: 'manual', signal: signal ? AbortSignal.any([signal, stall.signal]) : stall.signal });
      return new Exchange(response, context);
    } catch (error) {
      throw transportError(error, context);
    } finally {
      stall.disarm();
    }
  }

  /** The typed error for a response that is not what we asked for. */
  private async failure(exchange: Exchange, what: string): Promise<UpstreamError> {
    const { status, headers } = exchange.response;
    const said = await exchange.errorSummary();
    const message = `${this.base} answered ${status} for ${what}${said ? `: ${said}` : ''}`;
    if (status === 404) return new UpstreamNotFound(this.base, message);
    if (status === 401 || status === 403) return new UpstreamUnauthorized(this.base, message);
    if (status === 429) return new UpstreamRateLimited(this.base, message, retryAfterSeconds(headers.get('retry-after')));
    if (gatewayStatuses.has(status)) return new UpstreamUnreachable(this.base, message);
    return new UpstreamProtocolError(this.base, message, status);
  }
}

interface ExchangeContext {
  upstream: string;
  timeoutMs: number;
  stall: StallTimer;
  caller: AbortSignal | undefined;
}

/**
 * Aborts an exchange when the upstream says nothing for `ms`: armed only while we wait for it
 * (headers, the next chunk), so a consumer that reads slowly is not taken for a stalled upstream.
 */
class StallTimer {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ms: number) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  arm(): void {
    this.disarm();
    this.timer = setTimeout(() => this.controller.abort(), this.ms);
  }

  disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** One response, and the ways of finishing with its body. */
class Exchange {
  constructor(
    readonly response: Response,
    private readonly context: ExchangeContext,
  ) {}

  async discard(): Promise<void> {
    await this.response.body?.cancel().catch(() => undefined);
  }

  /** The whole body, refusing more than `limit` bytes (by Content-Length first, then while reading). */
  async readCapped(limit: number, what: string): Promise<Buffer> {
    const tooLarge = () => new UpstreamProtocolError(this.context.upstream, `${what} is larger than ${limit} bytes`, this.response.status);
    if (Number(this.response.headers.get('content-length') ?? 0) > limit) {
      await this.discard();
      throw tooLarge();
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of this.body()) {
      total += chunk.length;
      if (total > limit) throw tooLarge();
      chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    }
    return Buffer.concat(chunks);
  }

  /** Reads the body chunk by chunk; ending the iteration early cancels the rest of the download. */
  async *body(): AsyncGenerator<Uint8Array> {
    const reader = this.response.body?.getReader();
    try {
      while (reader) {
        this.context.stall.arm();
        const { done, value } = await reader.read();
        this.context.stall.disarm();
        if (done) return;
        yield value;
      }
    } catch (error) {
      throw transportError(error, this.context);
    } finally {
      this.context.stall.disarm();
      await reader?.cancel().catch(() => undefined);
    }
  }

  /** The registry's own words from an error body (`{"errors":[{"code","message"}]}`), if it sent any. */
  async errorSummary(): Promise<string> {
    let bytes: Buffer;
    try {
      bytes = await this.readCapped(maxErrorBodyBytes, 'the error body');
    } catch {
      return '';
    }
    const errors = parseJson(bytes)?.errors;
    if (!Array.isArray(errors)) return '';
    return (errors as { code?: unknown; message?: unknown }[])
      .map((e) => [e?.code, e?.message].filter((part) => typeof part === 'string').join(' '))
      .filter(Boolean)
      .join('; ')
      .slice(0, 300);
  }
}

function transportError(error: unknown, context: ExchangeContext): unknown {
  if (context.caller?.aborted) return context.caller.reason;
  if (error instanceof UpstreamError) return error;
  if (context.stall.signal.aborted) return new UpstreamUnreachable(context.upstream, `${context.upstream} sent nothing for ${context.timeoutMs} ms`);
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  const reason = cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
  return new UpstreamUnreachable(context.upstream, `cannot reach ${context.upstream}: ${reason}`, { cause: error });
}

/**
 * Parses `WWW-Authenticate` (RFC 7235): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
 * Undefined for other schemes, and for a Bearer challenge without a usable realm.
 */
export function parseChallenge(header: string | null): Challenge | undefined {
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header ?? '');
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme === 'basic') return { scheme: 'basic' };
  if (scheme !== 'bearer') return undefined;
  const params = new Map<string, string>();
  for (const param of match[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params.set(param[1]!.toLowerCase(), param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3]!);
  }
  const realm = params.get('realm');
  if (!realm || !URL.canParse(realm) || !/^https?:$/.test(new URL(realm).protocol)) return undefined;
  return { scheme: 'bearer', realm, service: params.get('service'), scope: params.get('scope') };
}

/** `Retry-After` as seconds: a number of seconds, or an HTTP date. */
function retryAfterSeconds(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** The Content-Type, unless it says nothing about manifests; then the manifest's own `mediaType` field. */
function manifestMediaType(headers: Headers, bytes: Buffer): string {
  const declared = contentType(headers);
  if (!genericContentTypes.has(declared)) return declared;
  const field = parseJson(bytes)?.mediaType;
  return typeof field === 'string' && field ? field : declared;
}

function contentType(headers: Headers): string {
  return (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

function parseJson(bytes: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(bytes.toString('utf8'));
    return value && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function basicAuthorization(credentials: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function manifestPath(repository: string, reference: string): string {
  return `/v2/${encodeName(repository)}/manifests/${encodeURIComponent(reference)}`;
}

function encodeName(repository: string): string {
  return repository.split('/').map(encodeURIComponent).join('/');
}
