/**
 * Which connect server holds which session's tunnel, shared by every server and proxy replica. One
 * server: in memory. Several replicas: Redis. Entries expire unless their holder refreshes them, so a
 * replica that dies takes its routes with it within one `ttlS`.
 */
export interface RouteHolder {
  /** Stable id of the server process holding the tunnel. */
  serverId: string;
  /** Where other replicas reach that server, e.g. http://10.0.0.5:8080. */
  url: string;
}

export interface RouteStore {
  /** Records that `holder` now holds the session's tunnel (the newest claim wins). */
  claim(sessionId: string, holder: RouteHolder, ttlS: number): Promise<void>;
  /** Forgets the route, but only if `serverId` still holds it (a newer claim elsewhere stays). */
  release(sessionId: string, serverId: string): Promise<void>;
  lookup(sessionId: string): Promise<RouteHolder | undefined>;
  /** Extends the routes `serverId` holds for these sessions (the holder's heartbeat). */
  refresh(sessionIds: readonly string[], holder: RouteHolder, ttlS: number): Promise<void>;
  /** True the first time a key is used within `ttlS`, false after: single-use authorization codes. */
  useOnce(key: string, ttlS: number): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * A route store ttl in whole milliseconds (rounded up, so a tiny ttl never becomes zero). Rejects
 * anything that is not a positive number of seconds: a zero or negative ttl is a caller's bug, not
 * a request to expire at once.
 */
export function ttlMilliseconds(ttlS: number): number {
  if (!Number.isFinite(ttlS) || ttlS <= 0) throw new RangeError(`a route store ttl must be a positive number of seconds, not ${ttlS}`);
  return Math.ceil(ttlS * 1000);
}
