import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RouteHolder, RouteStore } from '../../../src/connect/routes/route-store.ts';

/** Opens a fresh, empty store; `close` releases whatever the store needed (and tolerates a store already closed). */
export type OpenRouteStore = () => Promise<{ store: RouteStore; close(): Promise<void> }>;

const serverA: RouteHolder = { serverId: 'server-a', url: 'http://10.0.0.5:8080' };
const serverB: RouteHolder = { serverId: 'server-b', url: 'http://10.0.0.6:8080' };
/** Long enough never to expire during a test. */
const longTtlS = 60;
/** The shortest ttl the expiry cases use, and a wait that is safely past it. */
const shortTtlS = 1;
const pastShortTtlMs = 1_200;

/** The rules every RouteStore keeps; each implementation's test file only calls this. */
export function routeStoreContract(name: string, open: OpenRouteStore): void {
  describe(`RouteStore contract: ${name}`, () => {
    const withStore = async (body: (store: RouteStore) => Promise<void>) => {
      const { store, close } = await open();
      try {
        await body(store);
      } finally {
        await close();
      }
    };

    it('lookup finds the claimed holder, and nothing for a session never claimed', () =>
      withStore(async (store) => {
        await store.claim('s1', serverA, longTtlS);
        assert.deepEqual(await store.lookup('s1'), serverA);
        assert.equal(await store.lookup('never-claimed'), undefined);
      }));

    it('the newest claim wins', () =>
      withStore(async (store) => {
        await store.claim('s1', serverA, longTtlS);
        await store.claim('s1', serverB, longTtlS);
        assert.deepEqual(await store.lookup('s1'), serverB);
      }));

    it('release forgets a route only for the server holding it', () =>
      withStore(async (store) => {
        await store.claim('s1', serverA, longTtlS);
        await store.claim('s1', serverB, longTtlS);
        await store.release('s1', serverA.serverId);
        assert.deepEqual(await store.lookup('s1'), serverB, 'a former holder must not remove the newer claim');
        await store.release('s1', serverB.serverId);
        assert.equal(await store.lookup('s1'), undefined);
      }));

    it('release of an unknown session, or twice, is a no-op', () =>
      withStore(async (store) => {
        await store.release('never-claimed', serverA.serverId);
        await store.claim('s1', serverA, longTtlS);
        await store.release('s1', serverA.serverId);
        await store.release('s1', serverA.serverId);
        assert.equal(await store.lookup('s1'), undefined);
        await store.claim('s1', serverA, longTtlS);
        assert.deepEqual(await store.lookup('s1'), serverA, 'a released session can be claimed again');
      }));

    it('a route expires after its ttl', () =>
      withStore(async (store) => {
        await store.claim('short', serverA, shortTtlS);
        await store.claim('long', serverA, longTtlS);
        assert.deepEqual(await store.lookup('short'), serverA);
        await sleep(pastShortTtlMs);
        assert.equal(await store.lookup('short'), undefined);
        assert.deepEqual(await store.lookup('long'), serverA);
      }));

    it('refresh extends only the routes still held by that holder', () =>
      withStore(async (store) => {
        await store.claim('held', serverA, shortTtlS);
        await store.claim('taken', serverA, shortTtlS);
        await store.claim('taken', serverB, shortTtlS);
        await store.refresh(['held', 'taken', 'never-claimed'], serverA, longTtlS);
        await sleep(pastShortTtlMs);
        assert.deepEqual(await store.lookup('held'), serverA, 'the refreshed route outlives its first ttl');
        assert.equal(await store.lookup('taken'), undefined, "refresh must not extend another server's claim");
        assert.equal(await store.lookup('never-claimed'), undefined, 'refresh must not create routes');
      }));

    it('refresh does not resurrect a released route', () =>
      withStore(async (store) => {
        await store.claim('s1', serverA, longTtlS);
        await store.release('s1', serverA.serverId);
        await store.refresh(['s1'], serverA, longTtlS);
        assert.equal(await store.lookup('s1'), undefined);
        await store.refresh([], serverA, longTtlS);
      }));

    it('useOnce is true the first time a key is used and false after', () =>
      withStore(async (store) => {
        assert.equal(await store.useOnce('code-1', longTtlS), true);
        assert.equal(await store.useOnce('code-1', longTtlS), false);
        assert.equal(await store.useOnce('code-1', longTtlS), false);
        assert.equal(await store.useOnce('code-2', longTtlS), true);
      }));

    it('a useOnce key can be used again once its ttl has passed', () =>
      withStore(async (store) => {
        assert.equal(await store.useOnce('code', shortTtlS), true);
        assert.equal(await store.useOnce('code', shortTtlS), false);
        await sleep(pastShortTtlMs);
        assert.equal(await store.useOnce('code', shortTtlS), true);
      }));

    it('sessions, and useOnce keys named like them, do not interfere', () =>
      withStore(async (store) => {
        await store.claim('s1', serverA, longTtlS);
        await store.claim('s2', serverB, longTtlS);
        await store.claim('s3', serverA, longTtlS);
        await store.release('s1', serverA.serverId);
        await store.release('s2', serverA.serverId);
        assert.equal(await store.lookup('s1'), undefined);
        assert.deepEqual(await store.lookup('s2'), serverB);
        assert.deepEqual(await store.lookup('s3'), serverA);
        assert.equal(await store.useOnce('s3', longTtlS), true, 'a used key is not a route');
        assert.deepEqual(await store.lookup('s3'), serverA, 'using a key does not touch the route of that name');
      }));

    it('holders round-trip exactly, as copies', () =>
      withStore(async (store) => {
        const holder: RouteHolder = { serverId: 'pod/berth-7d9f:1 ünïcode', url: 'https://replica-2.berth.internal:8443/base/path?x=1' };
        await store.claim('s1', holder, longTtlS);
        holder.url = 'http://changed-after-claim';
        const found = await store.lookup('s1');
        assert.deepEqual(found, { serverId: 'pod/berth-7d9f:1 ünïcode', url: 'https://replica-2.berth.internal:8443/base/path?x=1' });
        found!.serverId = 'changed-after-lookup';
        assert.equal((await store.lookup('s1'))?.serverId, 'pod/berth-7d9f:1 ünïcode');
        await store.release('s1', 'pod/berth-7d9f:1 ünïcode');
        assert.equal(await store.lookup('s1'), undefined, 'the holder is recognised by that exact serverId');
      }));

    it('a ttl that is not a positive number of seconds is rejected', () =>
      withStore(async (store) => {
        for (const ttlS of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
          await assert.rejects(store.claim('s1', serverA, ttlS), RangeError, `claim with ttl ${ttlS}`);
          await assert.rejects(store.refresh(['s1'], serverA, ttlS), RangeError, `refresh with ttl ${ttlS}`);
          await assert.rejects(store.useOnce('code', ttlS), RangeError, `useOnce with ttl ${ttlS}`);
        }
        assert.equal(await store.lookup('s1'), undefined);
        assert.equal(await store.useOnce('code', longTtlS), true);
      }));

    it('close is idempotent, and a closed store rejects further calls', () =>
      withStore(async (store) => {
        await store.claim('s1', serverA, longTtlS);
        await store.close();
        await store.close();
        await assert.rejects(store.lookup('s1'), /closed/);
        await assert.rejects(store.claim('s1', serverA, longTtlS), /closed/);
        await assert.rejects(store.release('s1', serverA.serverId), /closed/);
        await assert.rejects(store.refresh(['s1'], serverA, longTtlS), /closed/);
        await assert.rejects(store.useOnce('code', longTtlS), /closed/);
      }));
  });
}
