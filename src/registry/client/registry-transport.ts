import {
  UpstreamError,
  UpstreamNotFound,
  UpstreamProtocolError,
  UpstreamRateLimited,
  UpstreamUnauthorized,
  UpstreamUnreachable,
} from '../pullthrough/upstream-errors.ts';

/**
 * The HTTP side of talking to a remote OCI registry, shared by every client Berth has (the
 * pull-through cache's upstream, the toolbox's clone): answering the registry's challenge (Basic,
 * or the Bearer token dance, with tokens kept per scope until they expire), following redirects
 * without leaking credentials to another origin, and a stall timeout that only counts time spent
 * waiting for the registry. Failures are the typed errors of `upstream-errors.ts`; a request
 * aborted through its signal rejects with the signal's reason.
 */

export interface RegistryTransportOptions {
  /** Where the registry answers `/v2/`: `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  url: string;
  /** A user name and password or access token, sent to the registry's Basic challenge or token server. */
  credentials?: { username: string; password: string };
  /** Longest wait for response headers, and for each further chunk of a body (either way). Default 30 s. */
  timeoutMs?: number;
  userAgent?: string;
}

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  method: HttpMethod;
  /** A path under the registry's base (`/v2/…?…`), or an absolute URL the registry handed out (an upload's Location). */
  path: string;
  /** Token scopes the request needs (`repository:NAME:pull`); none for `/v2/`. */
  scopes?: string[];
  accept?: string[];
  headers?: Record<string, string>;
  /**
   * Bytes are sent again when the registry challenges the first attempt; a stream can be sent only
   * once, so the challenge is learnt (from `/v2/`) before a streamed body goes out.
   */
  body?: Buffer | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
}

const defaultTimeoutMs = 30_000;
const maxTokenResponseBytes = 64 * 1024;
/** Enough of an error body to quote the registry's own error code and message. */
const maxErrorBodyBytes = 8 * 1024;
const maxRedirects = 5;
/** The token spec's default when a token server gives no `expires_in`. */
const defaultTokenLifetimeS = 60;
/** Tokens are dropped a little before they expire, so that none expires on its way to the registry. */
const tokenExpiryMarginMs = 5_000;
/** One token per scope set; the oldest is dropped beyond this. */
const maxCachedTokens = 1_000;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const gatewayStatuses = new Set([502, 503, 504]);

type Challenge = { scheme: 'basic' } | { scheme: 'bearer'; realm: string; service?: string; scope?: string };

interface Token {
  value: string;
  expiresAt: number;
}

export class RegistryTransport {
  /** Scheme, host and path prefix of the registry, without a trailing slash. */
  readonly base: string;
  private readonly origin: string;
  private readonly timeoutMs: number;
  private readonly userAgent: string;
  /** The challenge the registry last sent: answered up front, so that later requests are not refused first. */
  private challenge: Challenge | undefined;
  /** Whether `/v2/` has been asked what it wants, so a streamed body is never spent on a challenge. */
  private challengeKnown = false;
  private readonly tokens = new Map<string, Promise<Token>>();

  constructor(private readonly options: RegistryTransportOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`registry URL must be http or https, not ${url.protocol}`);
    if (url.username || url.password) throw new TypeError('give registry credentials as options.credentials, not in the URL');
    this.base = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
    this.origin = url.origin;
    this.timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
    this.userAgent = options.userAgent ?? 'berth';
  }

  /** Sends a request, answering the registry's challenge and retrying once with fresh credentials when refused. */
  async send(request: RegistryRequest): Promise<Exchange> {
    if (request.body && !Buffer.isBuffer(request.body) && !this.challengeKnown) await this.learnChallenge(request.signal);
    const first = await this.sendWithAuthorization(request, undefined);
    if (first.exchange.response.status !== 401) return this.refusedOr(first.exchange);
    const challenge = parseChallenge(first.exchange.response.headers.get('www-authenticate'));
    await first.exchange.discard();
    if (!challenge) throw new UpstreamProtocolError(this.base, `${this.base} answered 401 without a challenge Berth can answer`, 401);
    this.challenge = challenge;
    this.challengeKnown = true;
    if (request.body && !Buffer.isBuffer(request.body)) {
      throw new UpstreamUnauthorized(this.base, `${this.base} refused the ${this.credentialsWord()} while a stream was being sent`);
    }
    const second = await this.sendWithAuthorization(request, first.bearer);
    if (second.exchange.response.status === 401) {
      await second.exchange.discard();
      throw new UpstreamUnauthorized(this.base, `${this.base} refused the ${this.credentialsWord()}`);
    }
    return this.refusedOr(second.exchange);
  }

  /** The typed error for a response that is not what was asked for; `what` names the object (`manifest a/b:1`). */
  async failure(exchange: Exchange, what: string): Promise<UpstreamError> {
    const { status, headers } = exchange.response;
    const said = await exchange.errorSummary();
    const message = `${this.base} answered ${status} for ${what}${said ? `: ${said}` : ''}`;
    if (status === 404) return new UpstreamNotFound(this.base, message);
    if (status === 401 || status === 403) return new UpstreamUnauthorized(this.base, message);
    if (status === 429) return new UpstreamRateLimited(this.base, message, retryAfterSeconds(headers.get('retry-after')));
    if (gatewayStatuses.has(status)) return new UpstreamUnreachable(this.base, message);
    return new UpstreamProtocolError(this.base, message, status);
  }

  /** An absolute URL for a path or a registry-given location (relative locations resolve against the base's origin). */
  resolve(pathOrUrl: string): URL {
    return /^https?:\/\//i.test(pathOrUrl) ? new URL(pathOrUrl) : new URL(`${this.base}${pathOrUrl}`);
  }

  private credentialsWord(): string {
    return this.options.credentials ? 'configured credentials' : 'anonymous request';
  }

  private async learnChallenge(signal: AbortSignal | undefined): Promise<void> {
    const exchange = await this.fetchOnce(this.resolve('/v2/'), 'GET', { 'User-Agent': this.userAgent }, undefined, signal);
    await exchange.discard();
    if (exchange.response.status === 401) this.challenge = parseChallenge(exchange.response.headers.get('www-authenticate'));
    this.challengeKnown = true;
  }

  private async refusedOr(exchange: Exchange): Promise<Exchange> {
    if (exchange.response.status !== 403) return exchange;
    throw await this.failure(exchange, 'the request');
  }

  /** `rejectedBearer` is a token the registry just refused: a fresh one is fetched instead of reusing it. */
  private async sendWithAuthorization(request: RegistryRequest, rejectedBearer: string | undefined): Promise<{ exchange: Exchange; bearer?: string }> {
    const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...request.headers };
    if (request.accept?.length) headers.Accept = request.accept.join(', ');
    let bearer: string | undefined;
    const challenge = this.challenge;
    if (challenge?.scheme === 'basic') {
      if (!this.options.credentials) throw new UpstreamUnauthorized(this.base, `${this.base} requires credentials and none are configured`);
      headers.Authorization = basicAuthorization(this.options.credentials);
    } else if (challenge?.scheme === 'bearer') {
      const scopes = request.scopes?.length ? request.scopes : challenge.scope ? [challenge.scope] : [];
      bearer = await this.bearerToken(challenge, scopes, rejectedBearer);
      headers.Authorization = `Bearer ${bearer}`;
    }
    const url = this.resolve(request.path);
    const exchange =
      request.method === 'GET' || request.method === 'HEAD'
        ? await this.fetchFollowingRedirects(url, request.method, headers, request.signal)
        : await this.fetchOnce(url, request.method, this.forOrigin(url, headers), request.body, request.signal);
    return { exchange, bearer };
  }

  /** Our Authorization goes only to the registry's own origin, never to a storage host it points us at. */
  private forOrigin(url: URL, headers: Record<string, string>): Record<string, string> {
    if (url.origin === this.origin) return headers;
    const { Authorization: _authorization, ...anonymous } = headers;
    return anonymous;
  }

  private async bearerToken(challenge: Challenge & { scheme: 'bearer' }, scopes: string[], rejected: string | undefined): Promise<string> {
    const key = `${challenge.realm} ${challenge.service ?? ''} ${scopes.join(' ')}`;
    const cached = this.tokens.get(key);
    if (cached) {
      const token = await cached;
      if (token.value !== rejected && token.expiresAt > Date.now()) return token.value;
      // Another request may already have replaced the refused or expired token.
      if (this.tokens.get(key) !== cached) return this.bearerToken(challenge, scopes, rejected);
      this.tokens.delete(key);
    }
    const fetching = this.fetchToken(challenge, scopes);
    if (this.tokens.size >= maxCachedTokens) this.tokens.delete(this.tokens.keys().next().value!);
    this.tokens.set(key, fetching);
    fetching.catch(() => this.tokens.get(key) === fetching && this.tokens.delete(key));
    return (await fetching).value;
  }

  /** The token dance: GET the challenge's realm for the scopes, with our credentials as Basic auth when we have some. */
  private async fetchToken(challenge: Challenge & { scheme: 'bearer' }, scopes: string[]): Promise<Token> {
    const url = new URL(challenge.realm);
    if (challenge.service) url.searchParams.set('service', challenge.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    const headers: Record<string, string> = { 'User-Agent': this.userAgent };
    if (this.options.credentials) headers.Authorization = basicAuthorization(this.options.credentials);
    const exchange = await this.fetchOnce(url, 'GET', headers, undefined, undefined);
    if (exchange.response.status === 401 || exchange.response.status === 403) {
      await exchange.discard();
      throw new UpstreamUnauthorized(this.base, `the token server of ${this.base} refused the ${this.credentialsWord()}`);
    }
    if (!exchange.response.ok) throw await this.failure(exchange, 'a token');
    const body = parseJsonObject(await exchange.readCapped(maxTokenResponseBytes, 'the token response')) ?? {};
    const { token, access_token: accessToken, expires_in: expiresIn } = body;
    const value = typeof token === 'string' && token ? token : typeof accessToken === 'string' ? accessToken : '';
    if (!value) throw new UpstreamProtocolError(this.base, `the token server of ${this.base} answered without a token`);
    const lifetimeS = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : defaultTokenLifetimeS;
    return { value, expiresAt: Date.now() + lifetimeS * 1000 - tokenExpiryMarginMs };
  }

  /** Follows redirects by hand: a hop to another origin (a CDN, a signed storage URL) gets no Authorization. */
  private async fetchFollowingRedirects(url: URL, method: 'GET' | 'HEAD', headers: Record<string, string>, signal?: AbortSignal): Promise<Exchange> {
    let target = url;
    for (let hops = 0; ; hops++) {
      const exchange = await this.fetchOnce(target, method, this.forOrigin(target, headers), undefined, signal);
      if (!redirectStatuses.has(exchange.response.status)) return exchange;
      const location = exchange.response.headers.get('location');
      await exchange.discard();
      if (!location) throw new UpstreamProtocolError(this.base, `${this.base} redirected without a Location`, exchange.response.status);
      if (hops >= maxRedirects) throw new UpstreamProtocolError(this.base, `${this.base} redirected more than ${maxRedirects} times`);
      target = new URL(location, target);
    }
  }

  private async fetchOnce(url: URL, method: HttpMethod, headers: Record<string, string>, body: RegistryRequest['body'], signal: AbortSignal | undefined): Promise<Exchange> {
    const stall = new StallTimer(this.timeoutMs);
    const context: ExchangeContext = { upstream: this.base, timeoutMs: this.timeoutMs, stall, caller: signal };
    stall.arm();
    try {
      const streamed = body && !Buffer.isBuffer(body) ? { body: rearmingEachChunk(body, stall) as unknown as BodyInit, duplex: 'half' } : { body };
      const response = await fetch(url, {
        method,
        headers,
        redirect: 'manual',
        signal: signal ? AbortSignal.any([signal, stall.signal]) : stall.signal,
        ...streamed,
      } as RequestInit);
      return new Exchange(response, context);
    } catch (error) {
      throw transportError(error, context);
    } finally {
      stall.disarm();
    }
  }
}

/** A request body that restarts the stall timer with every chunk sent: a long upload is not a stalled registry. */
async function* rearmingEachChunk(body: AsyncIterable<Uint8Array>, stall: StallTimer): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    stall.arm();
    yield chunk;
  }
  stall.arm();
}

interface ExchangeContext {
  upstream: string;
  timeoutMs: number;
  stall: StallTimer;
  caller: AbortSignal | undefined;
}

/**
 * Aborts an exchange when the registry says nothing for `ms`: armed only while we wait for it
 * (headers, the next chunk), so a consumer that reads slowly is not taken for a stalled registry.
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
export class Exchange {
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
    const errors = parseJsonObject(bytes)?.errors;
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

export function parseJsonObject(bytes: Buffer): Record<string, unknown> | undefined {
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
