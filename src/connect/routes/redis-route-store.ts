import { once } from 'node:events';
import { Redis } from 'ioredis';
import { ttlMilliseconds } from './route-store.ts';
import type { RouteHolder, RouteStore } from './route-store.ts';

/**
 * The route store shared by replicas, in Redis. Key layout (layout version 1), under `keyPrefix`
 * (default `berth:connect:`):
 *
 *   <prefix>
 *   ├── route:<sessionId>   JSON {"serverId","url"} of the server holding the tunnel; PX = claim/refresh ttl
 *   └── once:<key>          "1" while a single-use key is spent; PX = useOnce ttl
 *
 * A replica only ever deletes or extends a route it still holds: `release` and `refresh` compare
 * the stored serverId and act in one Lua script, so a claim made elsewhere in between always wins.
 */
export interface RedisRouteStoreOptions {
  /** redis:// or rediss:// URL; a password in it is never repeated in errors. */
  url: string;
  keyPrefix?: string;
}

export class RedisRouteStoreError extends Error {
  override name = 'RedisRouteStoreError';
}

export class RedisRouteStore implements RouteStore {
  private readonly client: Redis & RouteScripts;
  private readonly keyPrefix: string;
  /** The URL as errors may show it: any password replaced. */
  private readonly safeUrl: string;
  private readonly secrets: string[];
  /** Why the last connection attempt failed; cleared once connected. Explains a command that gave up. */
  private connectionProblem: string | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: RedisRouteStoreOptions) {
    const { safeUrl, secrets } = redactUrl(options.url);
    this.safeUrl = safeUrl;
    this.secrets = secrets;
    this.keyPrefix = options.keyPrefix ?? 'berth:connect:';
    this.client = new Redis(options.url, {
      // A command waits for at most one reconnection, and never longer than commandTimeoutMs, so an
      // unreachable Redis rejects requests promptly while the client keeps reconnecting behind them.
      maxRetriesPerRequest: 1,
      enableOfflineQueue: true,
      connectTimeout: connectTimeoutMs,
      commandTimeout: commandTimeoutMs,
      retryStrategy: (attempt) => Math.min(attempt * 100, maxReconnectDelayMs),
    }) as Redis & RouteScripts;
    // Without a listener ioredis prints every failed reconnection; the cause is kept for the next rejection instead.
    this.client.on('error', (error: Error) => (this.connectionProblem = this.scrub(error.message)));
    this.client.on('ready', () => (this.connectionProblem = undefined));
    this.client.defineCommand('releaseRouteIfHeld', { numberOfKeys: 1, lua: releaseIfHeldScript });
    this.client.defineCommand('extendRoutesIfHeld', { lua: extendIfHeldScript });
  }

  async claim(sessionId: string, holder: RouteHolder, ttlS: number): Promise<void> {
    const ttlMs = ttlMilliseconds(ttlS);
    const value = JSON.stringify({ serverId: holder.serverId, url: holder.url } satisfies RouteHolder);
    await this.send('claim', () => this.client.set(this.routeKey(sessionId), value, 'PX', ttlMs));
  }

  async release(sessionId: string, serverId: string): Promise<void> {
    await this.send('release', () => this.client.releaseRouteIfHeld(this.routeKey(sessionId), serverId));
  }

  async lookup(sessionId: string): Promise<RouteHolder | undefined> {
    const value = await this.send('lookup', () => this.client.get(this.routeKey(sessionId)));
    if (value === null) return undefined;
    const holder = parseHolder(value);
    if (!holder) throw new RedisRouteStoreError(`Redis route store at ${this.safeUrl}: the route of session ${sessionId} is not a route holder`);
    return holder;
  }

  async refresh(sessionIds: readonly string[], holder: RouteHolder, ttlS: number): Promise<void> {
    const ttlMs = ttlMilliseconds(ttlS);
    this.assertOpen();
    if (sessionIds.length === 0) return;
    const keys = sessionIds.map((id) => this.routeKey(id));
    await this.send('refresh', () => this.client.extendRoutesIfHeld(keys.length, ...keys, holder.serverId, ttlMs));
  }

  async useOnce(key: string, ttlS: number): Promise<boolean> {
    const ttlMs = ttlMilliseconds(ttlS);
    const set = await this.send('useOnce', () => this.client.set(`${this.keyPrefix}once:${key}`, '1', 'PX', ttlMs, 'NX'));
    return set === 'OK';
  }

  /** Sends QUIT (answering what is still pending) when connected, or just stops reconnecting. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= this.quit());
  }

  private async quit(): Promise<void> {
    if (this.client.status !== 'ready') {
      // Between connections there is no socket to wait for: this stops the reconnection timer.
      this.client.disconnect();
      return;
    }
    const ended = once(this.client, 'end');
    await this.client.quit().catch(() => this.client.disconnect());
    await ended;
  }

  private routeKey(sessionId: string): string {
    return `${this.keyPrefix}route:${sessionId}`;
  }

  /** Runs one command, turning any failure into an error that names the (password-free) URL. */
  private async send<T>(operation: string, command: () => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await command();
    } catch (error) {
      // A command that gave up while the client was not connected says only that it gave up; the socket's error says why.
      const unreachable = this.client.status !== 'ready' && this.connectionProblem !== undefined;
      const reason = unreachable ? `no connection to Redis: ${this.connectionProblem}` : this.scrub(error instanceof Error ? error.message : String(error));
      throw new RedisRouteStoreError(`Redis route store at ${this.safeUrl}: ${operation} failed: ${reason}`);
    }
  }

  private assertOpen(): void {
    if (this.closing) throw new RedisRouteStoreError(`Redis route store at ${this.safeUrl} is closed`);
  }

  /** Removes the password from text that came from ioredis or a socket, should it ever appear there. */
  private scrub(text: string): string {
    return this.secrets.reduce((scrubbed, secret) => scrubbed.split(secret).join('***'), text);
  }
}

interface RouteScripts {
  releaseRouteIfHeld(routeKey: string, serverId: string): Promise<number>;
  /** `(keyCount, ...routeKeys, serverId, ttlMs)`; resolves to how many routes it extended. */
  extendRoutesIfHeld(...keysThenArgs: (string | number)[]): Promise<number>;
}

const connectTimeoutMs = 5_000;
const commandTimeoutMs = 5_000;
const maxReconnectDelayMs = 1_000;

/** KEYS[1] = route key, ARGV[1] = serverId: deletes the route only while that server holds it. */
const releaseIfHeldScript = `
local value = redis.call('GET', KEYS[1])
if value and cjson.decode(value).serverId == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** KEYS = route keys, ARGV[1] = serverId, ARGV[2] = ttl ms: extends those routes that server still holds. */
const extendIfHeldScript = `
local extended = 0
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and cjson.decode(value).serverId == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    extended = extended + 1
  end
end
return extended
`;

function parseHolder(json: string): RouteHolder | undefined {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { serverId, url } = value as Record<string, unknown>;
  return typeof serverId === 'string' && typeof url === 'string' ? { serverId, url } : undefined;
}

/** The URL with its password replaced by `***`, and the password's spellings to scrub from messages. */
function redactUrl(url: string): { safeUrl: string; secrets: string[] } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The text may itself hold a password, so it is not repeated.
    throw new RedisRouteStoreError('the Redis route store URL is not a valid URL');
  }
  if (!parsed.password) return { safeUrl: parsed.href, secrets: [] };
  const secrets = [...new Set([parsed.password, decodedOrSame(parsed.password)])];
  parsed.password = '***';
  return { safeUrl: parsed.href, secrets };
}

function decodedOrSame(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
