import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IdentityStore, type Workspace } from '../../../src/identity/identity-store.ts';
import { RegistryError } from '../../../src/registry/errors.ts';
import { Credentials } from '../../../src/registry/management/credentials.ts';
import { SecretBox } from '../../../src/secrets/secret-box.ts';
import { databaseKinds, type TestDatabase } from '../../support/databases.ts';

const registryPassword = 'reg-Pa55word-0f3c9e';
const awsSecret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const githubToken = 'ghp_16C7e42F292c6912E7710c838347Ae178B4a';

for (const { kind, open } of databaseKinds) {
  describe(`Credentials on ${kind}`, () => {
    let database: TestDatabase;
    let keyDir: string;
    let credentials: Credentials;
    let lab: Workspace;
    before(async () => {
      database = await open();
      keyDir = await mkdtemp(join(tmpdir(), 'berth-key-'));
      const identity = new IdentityStore(database.opened.db);
      const owner = await identity.createUser({ name: 'ada' });
      lab = await identity.createWorkspace({ slug: 'lab', owner });
      credentials = new Credentials(database.opened.db, await SecretBox.open({ keyFile: join(keyDir, 'secret.key') }));
    });
    after(async () => {
      await database.cleanup();
      await rm(keyDir, { recursive: true, force: true });
    });

    it('keeps each provider\'s non-secret keys in view and its secrets sealed, revealed only to Berth', async () => {
      const registry = await credentials.create(lab, { name: 'ghcr', provider: 'container-reg', keys: { registry: 'ghcr.io', userName: 'ada', password: registryPassword } });
      const aws = await credentials.create(lab, { name: 'aws', provider: 'aws', keys: { accessKey: 'AKIAIOSFODNN7EXAMPLE', secretKey: awsSecret } });
      const github = await credentials.create(lab, { name: 'github.com', provider: 'github', keys: { password: githubToken } });
      assert.deepEqual(registry.keys, { registry: 'ghcr.io', userName: 'ada' });
      assert.deepEqual(aws.keys, { accessKey: 'AKIAIOSFODNN7EXAMPLE' });
      assert.deepEqual(github.keys, {});
      assert.deepEqual((await credentials.records(lab.id)).map((r) => [r.name, r.provider]), [['aws', 'aws'], ['ghcr', 'container-reg'], ['github.com', 'github']]);
      assert.deepEqual(await credentials.reveal(lab.id, 'ghcr'), { username: 'ada', password: registryPassword });
      assert.deepEqual(await credentials.reveal(lab.id, 'aws'), { username: 'AKIAIOSFODNN7EXAMPLE', password: awsSecret });
      assert.deepEqual(await credentials.reveal(lab.id, 'github.com'), { username: '', password: githubToken });
      assert.deepEqual((await credentials.revealKeys(lab.id, aws.id)).keys, { accessKey: 'AKIAIOSFODNN7EXAMPLE', secretKey: awsSecret });

      const rows = JSON.stringify(await database.opened.db.selectFrom('credentials').selectAll().execute());
      for (const secret of [registryPassword, awsSecret, githubToken]) assert.ok(!rows.includes(secret), 'no secret is stored in the clear');
    });

    it('still reads rows written before providers existed as container registry logins', async () => {
      const box = await SecretBox.open({ keyFile: join(keyDir, 'secret.key') });
      await database.opened.db
        .insertInto('credentials')
        .values({ id: randomUUID(), workspace_id: lab.id, name: 'old', kind: 'container-registry', username: 'mirror', secret_sealed: box.seal('old-secret'), fields: null, created_at: 1_000, updated_at: null })
        .execute();
      const old = await credentials.findByName(lab.id, 'old');
      assert.deepEqual([old?.provider, old?.keys, old?.updatedAt], ['container-reg', { userName: 'mirror' }, 1_000]);
      assert.deepEqual(await credentials.reveal(lab.id, 'old'), { username: 'mirror', password: 'old-secret' });
      const listed = (await credentials.list(lab)).find((c) => c.name === 'old');
      assert.deepEqual(listed, { name: 'old', kind: 'container-registry', username: 'mirror', createdAt: 1_000 });
    });

    it('the by-name methods the registry and the builder use keep working', async () => {
      await credentials.put(lab, { name: 'ecr-pullthroughcache/up', username: 'u', secret: 's3cret' });
      assert.equal(await credentials.exists(lab.id, 'ecr-pullthroughcache/up'), true);
      assert.deepEqual(await credentials.reveal(lab.id, 'ecr-pullthroughcache/up'), { username: 'u', password: 's3cret' });
      await assert.rejects(credentials.put(lab, { name: 'ecr-pullthroughcache/up', secret: 'x' }), (e: RegistryError) => e.kind === 'InvalidParameter');
      await credentials.delete(lab, 'ecr-pullthroughcache/up');
      assert.equal(await credentials.exists(lab.id, 'ecr-pullthroughcache/up'), false);
      await assert.rejects(credentials.reveal(lab.id, 'ecr-pullthroughcache/up'), (e: RegistryError) => e.kind === 'CredentialNotFound');
    });

    it('an update keeps secrets left out, and switching AWS to a role drops the key pair', async () => {
      const created = await credentials.create(lab, { name: 'reg2', provider: 'container-reg', keys: { registry: 'r.example.org', userName: 'a', password: 'first-pass' } });
      const updated = await credentials.update(lab.id, created.id, { keys: { registry: 'r.example.org:5000', userName: 'b' } });
      assert.deepEqual(updated.keys, { registry: 'r.example.org:5000', userName: 'b' });
      assert.deepEqual(await credentials.reveal(lab.id, 'reg2'), { username: 'b', password: 'first-pass' });
      await credentials.update(lab.id, created.id, { keys: { registry: 'r.example.org:5000', userName: 'b', password: 'second-pass' } });
      assert.equal((await credentials.reveal(lab.id, 'reg2')).password, 'second-pass');

      const aws = await credentials.create(lab, { name: 'aws2', provider: 'aws', keys: { accessKey: 'AKIAIOSFODNN7EXAMPLE', secretKey: awsSecret } });
      const role = await credentials.update(lab.id, aws.id, { keys: { assumeRoleArn: 'arn:aws:iam::123456789012:role/berth' } });
      assert.deepEqual(role.keys, { assumeRoleArn: 'arn:aws:iam::123456789012:role/berth' });
      assert.deepEqual((await credentials.revealKeys(lab.id, aws.id)).keys, { assumeRoleArn: 'arn:aws:iam::123456789012:role/berth' });
    });

    it('a bad update names the field and changes nothing; a taken name is a conflict', async () => {
      const created = await credentials.create(lab, { name: 'reg3', provider: 'container-reg', keys: { registry: 'r.example.org', userName: 'a', password: 'pass' } });
      const before = await credentials.revealKeys(lab.id, created.id);
      await assert.rejects(credentials.update(lab.id, created.id, { keys: { registry: 'not a host', userName: 'a' } }), (e: RegistryError) => e.kind === 'InvalidParameter' && /^keys\.registry: /.test(e.message));
      await assert.rejects(credentials.update(lab.id, created.id, { keys: { registry: 'r.example.org', userName: 'a', token: 'x' } }), (e: RegistryError) => e.kind === 'InvalidParameter');
      assert.deepEqual(await credentials.revealKeys(lab.id, created.id), before);
      await assert.rejects(
        credentials.create(lab, { name: 'reg3', provider: 'github', keys: { password: 'x' } }),
        (e: RegistryError) => e.kind === 'InvalidParameter' && (e.detail as { conflict?: boolean }).conflict === true,
      );
      await assert.rejects(credentials.update(lab.id, randomUUID(), { keys: {} }), (e: RegistryError) => e.kind === 'CredentialNotFound');
    });

    it('deletes by id within its workspace only', async () => {
      const created = await credentials.create(lab, { name: 'gone', provider: 'github', keys: { userName: 'ada', password: 'tok' } });
      assert.equal(await credentials.deleteById(randomUUID(), created.id), false);
      assert.ok(await credentials.get(created.id, lab.id));
      assert.equal(await credentials.deleteById(lab.id, created.id), true);
      assert.equal(await credentials.get(created.id), undefined);
    });
  });
}
