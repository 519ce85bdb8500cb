import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityStore, type User } from '../../src/identity/identity-store.ts';
import { WebLogins } from '../../src/identity/web-logins.ts';
import { databaseKinds, type TestDatabase } from '../support/databases.ts';

const hourMs = 3_600_000;

for (const { kind, open } of databaseKinds) {
  describe(`WebLogins on ${kind}`, () => {
    let database: TestDatabase;
    let identity: IdentityStore;
    let user: User;
    /** The logins' clock: tests move it instead of waiting. */
    let now = Date.now();
    let logins: WebLogins;
    before(async () => {
      database = await open();
      identity = new IdentityStore(database.opened.db);
      user = await identity.createUser({ name: 'ada' });
      logins = new WebLogins(database.opened.db, { now: () => now });
    });
    after(() => database.cleanup());

    it('a new login authenticates as its user; its secret is a 256-bit cookie-safe value stored only as a hash', async () => {
      const secret = await logins.create(user, hourMs);
      assert.match(secret, /^bwl_[A-Za-z0-9_-]{43}$/);
      assert.deepEqual(await logins.authenticate(secret), user);
      const rows = await database.opened.db.selectFrom('web_logins').selectAll().execute();
      assert.ok(rows.every((row) => row.id_hash !== secret && /^[0-9a-f]{64}$/.test(row.id_hash)));
      assert.notEqual(await logins.create(user, hourMs), secret);
    });

    it('unknown, malformed and API-token-looking secrets authenticate nobody', async () => {
      const secret = await logins.create(user, hourMs);
      for (const wrong of ['', 'bwl_', `${secret}x`, secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A'), 'berth_abcdefghijklmnopqrstuvwxyz0123456789', "bwl_' or 1=1 --"]) {
        assert.equal(await logins.authenticate(wrong), undefined, wrong);
      }
    });

    it('an expired login authenticates nobody, and removeExpired deletes exactly the expired ones', async () => {
      const short = await logins.create(user, 1_000);
      const long = await logins.create(user, 10 * hourMs);
      now += 1_000;
      assert.equal(await logins.authenticate(short), undefined);
      assert.deepEqual(await logins.authenticate(long), user);
      assert.ok((await logins.removeExpired()) >= 1);
      assert.equal(await logins.removeExpired(), 0);
      assert.deepEqual(await logins.authenticate(long), user);
    });

    it('remove ends a login and is idempotent', async () => {
      const secret = await logins.create(user, hourMs);
      await logins.remove(secret);
      assert.equal(await logins.authenticate(secret), undefined);
      await logins.remove(secret);
      await logins.remove('not a secret');
    });

    it('deleting the user ends its logins', async () => {
      const other = await identity.createUser({ name: 'bob' });
      const secret = await logins.create(other, hourMs);
      await database.opened.db.deleteFrom('users').where('id', '=', other.id).execute();
      assert.equal(await logins.authenticate(secret), undefined);
    });
  });
}
