import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { MemoryRouteStore } from '../../../src/connect/routes/memory-route-store.ts';
import { RedisRouteStore, RedisRouteStoreError } from '../../../src/connect/routes/redis-route-store.ts';
import type { RouteHolder } from '../../../src/connect/routes/route-store.ts';
import { freePort } from '../../support/processes.ts';
import { startRedis, type RedisServer } from '../../support/redis.ts';
import { routeStoreContract } from './route-store.contract.ts';

const replicaA: RouteHolder = { serverId: 'replica-a', url: 'http://10.0.0.5:8080' };
const replicaB: RouteHolder = { serverId: 'replica-b', url: 'http://10.0.0.6:8080' };
const password = 'secretpw';

routeStoreContract('memory', async () => {
  const store = new MemoryRouteStore();
  return { store, close: () => store.close() };
});

describe('RedisRouteStore', () => {
  let redis: RedisServer;
  let prefixes = 0;
  /** Every store gets its own key space on the shared server, so tests cannot see each other's keys. */
  const freshPrefix = () => `berth-test-${process.pid}-${++prefixes}:`;
  /** Opens stores that are closed after the test body, whatever happens. */
  const withStores = async (body: (open: (options?: { keyPrefix?: string; url?: string }) => RedisRouteStore) => Promise<void>) => {
    const opened: RedisRouteStore[] = [];
    try {
      await body((options = {}) => {
        const store = new RedisRouteStore({ url: options.url ?? redis.url, keyPrefix: options.keyPrefix ?? freshPrefix() });
        opened.push(store);
        return store;
      });
    } finally {
      await Promise.all(opened.map((store) => store.close()));
    }
  };

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  routeStoreContract('redis', async () => {
    const store = new RedisRouteStore({ url: redis.url, keyPrefix: freshPrefix() });
    return { store, close: () => store.close() };
  });

  it('two replicas on one server see and respect each other’s claims', () =>
    withStores(async (open) => {
      const keyPrefix = freshPrefix();
      const [a, b] = [open({ keyPrefix }), open({ keyPrefix })];
      await a.claim('s1', replicaA, 60);
      assert.deepEqual(await b.lookup('s1'), replicaA);
      await b.claim('s1', replicaB, 60);
      assert.deepEqual(await a.lookup('s1'), replicaB);

      await a.release('s1', replicaA.serverId);
      await a.refresh(['s1'], replicaA, 3600);
      assert.deepEqual(await b.lookup('s1'), replicaB, 'a former holder can neither delete nor take over the route');
      const raw = new Redis(redis.url);
      try {
        const pttl = await raw.pttl(`${keyPrefix}route:s1`);
        assert.ok(pttl > 0 && pttl <= 60_000, `the former holder's refresh must not extend the route (pttl ${pttl})`);
      } finally {
        await raw.quit();
      }

      assert.equal(await a.useOnce('code', 60), true);
      assert.equal(await b.useOnce('code', 60), false, 'a code used on one replica is spent on all');
      await b.release('s1', replicaB.serverId);
      assert.equal(await a.lookup('s1'), undefined);
    }));

  it('keeps routes and used keys under the documented keys, with PX expiry', async () => {
    const store = new RedisRouteStore({ url: redis.url });
    const raw = new Redis(redis.url);
    const sessionId = `layout-${process.pid}`;
    const routeKey = `berth:connect:route:${sessionId}`;
    const onceKey = `berth:connect:once:${sessionId}-code`;
    try {
      await store.claim(sessionId, replicaA, 30);
      assert.deepEqual(JSON.parse((await raw.get(routeKey)) ?? 'null'), replicaA);
      const claimedPttl = await raw.pttl(routeKey);
      assert.ok(claimedPttl > 0 && claimedPttl <= 30_000, `pttl after claim: ${claimedPttl}`);
      await store.refresh([sessionId], replicaA, 300);
      assert.ok((await raw.pttl(routeKey)) > 30_000, 'refresh sets the new ttl');

      assert.equal(await store.useOnce(`${sessionId}-code`, 30), true);
      const usedPttl = await raw.pttl(onceKey);
      assert.ok(usedPttl > 0 && usedPttl <= 30_000, `pttl of a used key: ${usedPttl}`);
    } finally {
      await raw.del(routeKey, onceKey);
      await raw.quit();
      await store.close();
    }
  });

  it('stores with different key prefixes on one server are independent', () =>
    withStores(async (open) => {
      const [tenantA, tenantB] = [open(), open()];
      await tenantA.claim('s1', replicaA, 60);
      assert.equal(await tenantB.lookup('s1'), undefined);
      await tenantB.claim('s1', replicaB, 60);
      await tenantB.release('s1', replicaB.serverId);
      assert.deepEqual(await tenantA.lookup('s1'), replicaA);
      assert.equal(await tenantA.useOnce('code', 60), true);
      assert.equal(await tenantB.useOnce('code', 60), true);
    }));

  it('an unreachable server rejects calls with an error that names the URL but not the password', () =>
    withStores(async (open) => {
      const port = await freePort();
      const store = open({ url: `redis://:${password}@127.0.0.1:${port}` });
      for (const call of [store.claim('s1', replicaA, 60), store.lookup('s1'), store.useOnce('code', 60)]) {
        const error = await call.then(
          () => assert.fail('a call to a closed port must reject'),
          (rejection: unknown) => rejection,
        );
        assertNamesServerWithoutPassword(error, port);
      }
    }));

  it('a server that stops rejects later calls with an error that names the URL but not the password', async () => {
    const own = await startRedis({ password });
    try {
      await withStores(async (open) => {
        const store = open({ url: own.url });
        await store.claim('s1', replicaA, 60);
        assert.deepEqual(await store.lookup('s1'), replicaA);
        await own.stop();
        const error = await store.lookup('s1').then(
          () => assert.fail('a call to a stopped server must reject'),
          (rejection: unknown) => rejection,
        );
        assertNamesServerWithoutPassword(error, own.port);
      });
    } finally {
      await own.stop();
    }
  });

  it('a wrong password rejects calls without repeating it', async () => {
    const own = await startRedis({ password });
    try {
      await withStores(async (open) => {
        const wrong = 'not-the-secretpw-either';
        const store = open({ url: `redis://:${wrong}@127.0.0.1:${own.port}` });
        const error = await store.lookup('s1').then(
          () => assert.fail('a call with a wrong password must reject'),
          (rejection: unknown) => rejection,
        );
        assert.ok(error instanceof RedisRouteStoreError, inspect(error));
        assert.ok(!inspect(error).includes(wrong), `the error repeats the password: ${inspect(error)}`);
      });
    } finally {
      await own.stop();
    }
  });

  it('refuses a URL it cannot parse without repeating it', () => {
    assert.throws(
      () => new RedisRouteStore({ url: `not a url ${password}` }),
      (error: unknown) => error instanceof RedisRouteStoreError && !inspect(error).includes(password),
    );
  });
});

function assertNamesServerWithoutPassword(error: unknown, port: number): void {
  assert.ok(error instanceof RedisRouteStoreError, `expected a RedisRouteStoreError, got ${inspect(error)}`);
  assert.match(error.message, new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
  const everything = inspect(error, { depth: 10, showHidden: true });
  assert.ok(!everything.includes(password), `the error repeats the password: ${everything}`);
}
