import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { connectSigningKeyFile, ExpiringMap, StudioTokens, type UseOnce } from '../../../src/connect/proxy/studio-tokens.ts';
import { MemoryRouteStore } from '../../../src/connect/routes/memory-route-store.ts';
import { loadOrCreateSigningKey } from '../../../src/secrets/signing-key.ts';

/** Single use as the server does it: through a route store's useOnce (each test its own store). */
function oneTimeKeys(): UseOnce {
  const routes = new MemoryRouteStore();
  return (key, ttlS) => routes.useOnce(key, ttlS);
}

const callback = 'http://abcdefgh12.localhost:8080/_berth/callback';

describe('StudioTokens', () => {
  let dataDir: string;
  let now = Date.now();
  let tokens: StudioTokens;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'berth-studio-tokens-'));
    tokens = await StudioTokens.open(dataDir, { now: () => now });
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps its own signing key in the data directory (0600), reused by the next start', async () => {
    const file = join(dataDir, connectSigningKeyFile);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const token = await tokens.issueStudioToken({ userId: 'u1', sessionId: 'abcdefgh12' }, 600);
    const pem = await readFile(file, 'utf8');
    const restarted = await StudioTokens.open(dataDir, { now: () => now });
    assert.equal(await readFile(file, 'utf8'), pem);
    assert.equal((await restarted.verifyStudioToken(token, 'abcdefgh12'))?.userId, 'u1');
  });

  describe('studio tokens', () => {
    it('a token opens its own session, with its user and expiry', async () => {
      const token = await tokens.issueStudioToken({ userId: 'u1', sessionId: 'abcdefgh12' }, 600);
      const claims = await tokens.verifyStudioToken(token, 'abcdefgh12');
      assert.equal(claims?.userId, 'u1');
      assert.equal(claims?.expiresAt, (Math.floor(now / 1000) + 600) * 1000);
    });

    it('never opens another session, before or after it was cached', async () => {
      const token = await tokens.issueStudioToken({ userId: 'u1', sessionId: 'abcdefgh12' }, 600);
      assert.equal(await tokens.verifyStudioToken(token, 'otherabc12'), undefined);
      assert.ok(await tokens.verifyStudioToken(token, 'abcdefgh12'));
      assert.equal(await tokens.verifyStudioToken(token, 'otherabc12'), undefined);
    });

    it('expires, even after a successful verification was cached', async () => {
      const token = await tokens.issueStudioToken({ userId: 'u1', sessionId: 'abcdefgh12' }, 60);
      assert.ok(await tokens.verifyStudioToken(token, 'abcdefgh12'));
      now += 61_000;
      assert.equal(await tokens.verifyStudioToken(token, 'abcdefgh12'), undefined);
    });

    it('refuses tampered tokens, other keys, other audiences, other algorithms and junk', async () => {
      const token = await tokens.issueStudioToken({ userId: 'u1', sessionId: 'abcdefgh12' }, 600);
      const [header, payload, signature] = token.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      const forgedPayload = Buffer.from(JSON.stringify({ ...claims, sub: 'admin-id' })).toString('base64url');
      const otherKey = await loadOrCreateSigningKey(join(dataDir, 'other-key.pem'));
      const signedElsewhere = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(otherKey.privateKey);
      const code = await tokens.issueCode({ userId: 'u1', sessionId: 'abcdefgh12', redirectUri: callback });
      const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${payload}.`;
      const hmac = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('0123456789abcdef0123456789abcdef'));
      for (const bad of [`${header}.${forgedPayload}.${signature}`, `${token}x`, signedElsewhere, code, unsigned, hmac, '', 'a.b.c', 'x'.repeat(10_000)]) {
        assert.equal(await tokens.verifyStudioToken(bad, 'abcdefgh12'), undefined, bad.slice(0, 60));
      }
    });
  });

  describe('authorization codes', () => {
    const expected = { sessionId: 'abcdefgh12', redirectUri: callback };

    it('a code is redeemed once, for its session and callback, as its user', async () => {
      const useOnce = oneTimeKeys();
      const code = await tokens.issueCode({ userId: 'u1', ...expected });
      assert.deepEqual(await tokens.redeemCode(code, expected, useOnce), { userId: 'u1' });
      assert.equal(await tokens.redeemCode(code, expected, useOnce), undefined);
    });

    it('two codes for the same user and session are distinct and each works once', async () => {
      const useOnce = oneTimeKeys();
      const first = await tokens.issueCode({ userId: 'u1', ...expected });
      const second = await tokens.issueCode({ userId: 'u1', ...expected });
      assert.notEqual(first, second);
      assert.ok(await tokens.redeemCode(first, expected, useOnce));
      assert.ok(await tokens.redeemCode(second, expected, useOnce));
    });

    it('a code for another session or another callback is refused, and stays usable where it belongs', async () => {
      const useOnce = oneTimeKeys();
      const code = await tokens.issueCode({ userId: 'u1', ...expected });
      assert.equal(await tokens.redeemCode(code, { ...expected, sessionId: 'otherabc12' }, useOnce), undefined);
      assert.equal(await tokens.redeemCode(code, { ...expected, redirectUri: 'http://evil.example/_berth/callback' }, useOnce), undefined);
      assert.ok(await tokens.redeemCode(code, expected, useOnce));
    });

    it('a code expires after 60 s', async () => {
      const useOnce = oneTimeKeys();
      const code = await tokens.issueCode({ userId: 'u1', ...expected });
      now += 61_000;
      assert.equal(await tokens.redeemCode(code, expected, useOnce), undefined);
    });

    it('a studio token is not a code, and a code is not a studio token', async () => {
      const useOnce = oneTimeKeys();
      const studioToken = await tokens.issueStudioToken({ userId: 'u1', sessionId: 'abcdefgh12' }, 600);
      assert.equal(await tokens.redeemCode(studioToken, expected, useOnce), undefined);
      const code = await tokens.issueCode({ userId: 'u1', ...expected });
      assert.equal(await tokens.verifyStudioToken(code, 'abcdefgh12'), undefined);
    });
  });
});

describe('ExpiringMap', () => {
  it('forgets an entry at its deadline', () => {
    const map = new ExpiringMap<string>(10);
    map.set('a', 'x', 1_000);
    assert.equal(map.get('a', 999)?.value, 'x');
    assert.equal(map.get('a', 1_000), undefined);
    assert.equal(map.size, 0);
  });

  it('never holds more than its limit, dropping the oldest first', () => {
    const map = new ExpiringMap<number>(3);
    for (let i = 0; i < 5; i++) map.set(`k${i}`, i, 10_000);
    assert.equal(map.size, 3);
    assert.equal(map.get('k0', 0), undefined);
    assert.equal(map.get('k1', 0), undefined);
    assert.equal(map.get('k4', 0)?.value, 4);
  });
});
