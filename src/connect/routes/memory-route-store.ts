import { ttlMilliseconds, type RouteHolder, type RouteStore } from './route-store.ts';

/**
 * The route store of a single server: plain maps in this process. Entries carry their expiry time
 * and are dropped when read after it (and in an occasional sweep on writes), so the store needs no
 * timer that would keep the process alive.
 */
export class MemoryRouteStore implements RouteStore {
  private readonly routes = new Map<string, Expiring<RouteHolder>>();
  /** Keys `useOnce` has seen, until they expire. */
  private readonly usedKeys = new Map<string, Expiring<true>>();
  private nextSweepAt: number;
  private closed = false;

  /** `now` is injectable for callers that keep their own clock; it defaults to the wall clock. */
  constructor(private readonly now: () => number = Date.now) {
    this.nextSweepAt = now() + sweepIntervalMs;
  }

  async claim(sessionId: string, holder: RouteHolder, ttlS: number): Promise<void> {
    this.assertOpen();
    const expiresAt = this.expiryAfter(ttlS);
    this.sweepIfDue();
    this.routes.set(sessionId, { value: copyHolder(holder), expiresAt });
  }

  async release(sessionId: string, serverId: string): Promise<void> {
    this.assertOpen();
    if (this.liveRoute(sessionId)?.value.serverId === serverId) this.routes.delete(sessionId);
  }

  async lookup(sessionId: string): Promise<RouteHolder | undefined> {
    this.assertOpen();
    const route = this.liveRoute(sessionId);
    return route && copyHolder(route.value);
  }

  async refresh(sessionIds: readonly string[], holder: RouteHolder, ttlS: number): Promise<void> {
    this.assertOpen();
    const expiresAt = this.expiryAfter(ttlS);
    for (const sessionId of sessionIds) {
      const route = this.liveRoute(sessionId);
      if (route?.value.serverId === holder.serverId) route.expiresAt = expiresAt;
    }
  }

  async useOnce(key: string, ttlS: number): Promise<boolean> {
    this.assertOpen();
    const expiresAt = this.expiryAfter(ttlS);
    this.sweepIfDue();
    if (live(this.usedKeys.get(key), this.now())) return false;
    this.usedKeys.set(key, { value: true, expiresAt });
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.routes.clear();
    this.usedKeys.clear();
  }

  private liveRoute(sessionId: string): Expiring<RouteHolder> | undefined {
    const route = this.routes.get(sessionId);
    if (live(route, this.now())) return route;
    this.routes.delete(sessionId);
    return undefined;
  }

  private expiryAfter(ttlS: number): number {
    return this.now() + ttlMilliseconds(ttlS);
  }

  /** Drops expired entries now and then, so sessions and codes nobody reads again do not pile up. */
  private sweepIfDue(): void {
    const now = this.now();
    if (now < this.nextSweepAt) return;
    this.nextSweepAt = now + sweepIntervalMs;
    for (const entries of [this.routes, this.usedKeys] as Map<string, Expiring<unknown>>[]) {
      for (const [key, entry] of entries) if (!live(entry, now)) entries.delete(key);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('the memory route store is closed');
  }
}


interface Expiring<T> {
  value: T;
  /** Epoch milliseconds at which the entry stops counting. */
  expiresAt: number;
}

const sweepIntervalMs = 60_000;

function live<T>(entry: Expiring<T> | undefined, now: number): entry is Expiring<T> {
  return entry !== undefined && now < entry.expiresAt;
}

/** Stores and hands out copies, so that a caller mutating its object cannot change a route (as with Redis). */
function copyHolder(holder: RouteHolder): RouteHolder {
  return { serverId: holder.serverId, url: holder.url };
}
