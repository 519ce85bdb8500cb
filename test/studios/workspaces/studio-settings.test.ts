import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IdentityError } from '../../../src/identity/errors.ts';
import { IdentityStore, type Workspace } from '../../../src/identity/identity-store.ts';
import { isRepositoryReference, StudioSettings, type StudioSettingsChange } from '../../../src/studios/workspaces/studio-settings.ts';
import { databaseKinds, type TestDatabase } from '../../support/databases.ts';

describe('isRepositoryReference', () => {
  it('takes host/path and path, and refuses tags, digests, upper case and bad hosts', () => {
    for (const good of ['lab/studios', 'registry.example.org/team/studios', 'localhost:5000/x', '127.0.0.1:8080/ws/studios', 'ghcr.io/org/a-b_c.d']) {
      assert.equal(isRepositoryReference(good), true, good);
    }
    for (const bad of ['', 'lab/Studios', 'lab/studios:latest', 'lab/studios@sha256:abc', 'host.example/', 'bad_host.example/x', '/x', 'a//b']) {
      assert.equal(isRepositoryReference(bad), false, bad);
    }
  });
});

for (const { kind, open } of databaseKinds) {
  describe(`StudioSettings on ${kind}`, () => {
    let database: TestDatabase;
    let settings: StudioSettings;
    let lab: Workspace;
    let other: Workspace;
    before(async () => {
      database = await open();
      const identity = new IdentityStore(database.opened.db);
      const owner = await identity.createUser({ name: 'ada' });
      lab = await identity.createWorkspace({ slug: 'lab', owner });
      other = await identity.createWorkspace({ slug: 'other', owner });
      settings = new StudioSettings(database.opened.db, { defaultLifespanHours: 8 });
    });
    after(() => database.cleanup());

    it('a workspace that set nothing has the defaults: its repository in Berth, the server lifespan, public studios', async () => {
      assert.deepEqual(await settings.stored(other.id), { containerRepository: null, lifespanHours: null, privateStudioByDefault: false, nameStrategy: null });
      assert.deepEqual(await settings.effective(other, '127.0.0.1:8080'), {
        containerRepository: '127.0.0.1:8080/other/studios',
        lifespanHours: 8,
        privateStudioByDefault: false,
        nameStrategy: null,
      });
    });

    it('stores a change, keeps fields left out, and null puts a field back to its default', async () => {
      await settings.update(lab.id, { containerRepository: 'registry.example.org/lab/studios', lifespanHours: 0, nameStrategy: 'tagPrefix' });
      await settings.update(lab.id, { privateStudioByDefault: true });
      assert.deepEqual(await settings.effective(lab, 'berth.test'), {
        containerRepository: 'registry.example.org/lab/studios',
        lifespanHours: 0,
        privateStudioByDefault: true,
        nameStrategy: 'tagPrefix',
      });
      await settings.update(lab.id, { containerRepository: null, nameStrategy: null });
      assert.deepEqual(await settings.effective(lab, 'berth.test'), {
        containerRepository: 'berth.test/lab/studios',
        lifespanHours: 0,
        privateStudioByDefault: true,
        nameStrategy: null,
      });
      assert.deepEqual((await settings.effective(other, 'berth.test')).privateStudioByDefault, false, 'other workspaces are untouched');
    });

    it('refuses bad input naming the field, and changes nothing', async () => {
      const before = await settings.stored(lab.id);
      const bad: Array<[unknown, RegExp]> = [
        [{ lifespanHours: 8761 }, /^lifespanHours: /],
        [{ lifespanHours: -1 }, /^lifespanHours: /],
        [{ containerRepository: 'Lab/Studios:latest' }, /^containerRepository: must be a repository reference/],
        [{ nameStrategy: 'random' }, /^nameStrategy: /],
        [{ privateStudioByDefault: 'yes' }, /^privateStudioByDefault: /],
        [{ lifespanHours: 2, colour: 'blue' }, /colour/],
      ];
      for (const [change, message] of bad) {
        await assert.rejects(settings.update(lab.id, change as StudioSettingsChange), (error: unknown) => {
          assert.ok(error instanceof IdentityError, String(error));
          assert.equal(error.code, 'INVALID');
          assert.match(error.message, message);
          return true;
        });
      }
      assert.deepEqual(await settings.stored(lab.id), before);
    });
  });
}
