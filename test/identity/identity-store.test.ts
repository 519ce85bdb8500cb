import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { hashTokenSecret } from '../../src/identity/api-tokens.ts';
import { IdentityError } from '../../src/identity/errors.ts';
import { IdentityStore } from '../../src/identity/identity-store.ts';
import { databaseKinds, type TestDatabase } from '../support/databases.ts';

for (const { kind, open } of databaseKinds) {
  describe(`IdentityStore on ${kind}`, () => {
    let database: TestDatabase;
    let identity: IdentityStore;
    before(async () => {
      database = await open();
      identity = new IdentityStore(database.opened.db);
    });
    after(() => database.cleanup());

    it('a new user gets a personal workspace named after it, owned by it', async () => {
      const user = await identity.createUser({ name: 'ada' });
      const workspaces = await identity.workspacesOf(user.id);
      assert.deepEqual(
        workspaces.map((w) => [w.slug, w.role, w.personalUserId]),
        [['ada', 'owner', user.id]],
      );
      assert.match(workspaces[0]!.registryId, /^[1-9]\d{11}$/);
    });

    it('workspace slugs are unique across users and workspaces', async () => {
      const owner = await identity.createUser({ name: 'grace' });
      await identity.createWorkspace({ slug: 'lab', owner });
      await assert.rejects(identity.createWorkspace({ slug: 'lab', owner }), (e: IdentityError) => e.code === 'CONFLICT');
      await assert.rejects(identity.createWorkspace({ slug: 'grace', owner }), (e: IdentityError) => e.code === 'CONFLICT');
      await assert.rejects(identity.createUser({ name: 'lab' }), (e: IdentityError) => e.code === 'CONFLICT');
    });

    it('a failed creation changes nothing', async () => {
      const before = (await identity.listUsers()).length;
      await assert.rejects(identity.createUser({ name: 'lab' }));
      assert.equal((await identity.listUsers()).length, before);
      assert.equal(await identity.findUser('lab'), undefined);
    });

    it('rejects slugs outside the repository-name grammar, naming the problem', async () => {
      for (const bad of ['A', 'Upper', 'has space', '-lead', 'trail-', 'a/b', 'x'.repeat(65)]) {
        await assert.rejects(identity.createUser({ name: bad }), (e: IdentityError) => e.code === 'INVALID' && e.message.includes(bad));
      }
    });

    it('roles can be set, changed and removed', async () => {
      const owner = await identity.createUser({ name: 'owner1' });
      const member = await identity.createUser({ name: 'member1' });
      const ws = await identity.createWorkspace({ slug: 'shared', owner });
      await identity.setRole(ws.id, member.id, 'view');
      assert.equal(await identity.roleOf(member.id, ws.id), 'view');
      await identity.setRole(ws.id, member.id, 'maintain');
      assert.equal(await identity.roleOf(member.id, ws.id), 'maintain');
      await identity.setRole(ws.id, member.id, undefined);
      assert.equal(await identity.roleOf(member.id, ws.id), undefined);
    });

    it('stores only the hash of an API token and authenticates by the secret', async () => {
      const user = await identity.createUser({ name: 'tokenuser' });
      const { token, secret } = await identity.createApiToken(user, { name: 'ci', scopes: ['registry:pull'] });
      const rows = await database.opened.db.selectFrom('api_tokens').selectAll().where('id', '=', token.id).execute();
      assert.equal(rows[0]!.token_hash, hashTokenSecret(secret));
      assert.ok(!JSON.stringify(rows).includes(secret));
      const found = await identity.authenticate(secret);
      assert.equal(found?.user.name, 'tokenuser');
      assert.deepEqual(found?.token.scopes, ['registry:pull']);
      assert.equal(await identity.authenticate(`${secret}x`), undefined);
    });

    it('expired and revoked tokens no longer authenticate', async () => {
      const user = await identity.createUser({ name: 'expiring' });
      const expired = await identity.createApiToken(user, { name: 'old', expiresAt: Date.now() - 1 });
      assert.equal(await identity.authenticate(expired.secret), undefined);
      const live = await identity.createApiToken(user, { name: 'live' });
      await identity.revokeApiToken(user.id, live.token.id);
      assert.equal(await identity.authenticate(live.secret), undefined);
    });

    it('organizations group workspaces', async () => {
      const owner = await identity.createUser({ name: 'orgowner' });
      const org = await identity.createOrganization('institute');
      const ws = await identity.createWorkspace({ slug: 'genomics', organization: 'institute', owner });
      assert.equal(ws.organizationId, org.id);
      await assert.rejects(identity.createWorkspace({ slug: 'x1', organization: 'nope', owner }), (e: IdentityError) => e.code === 'NOT_FOUND');
    });
  });
}
