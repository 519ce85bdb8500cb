import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { databaseKinds, type TestDatabase } from '../support/databases.ts';
import { registryParts, type RegistryParts } from '../support/registry-parts.ts';

for (const { kind, open } of databaseKinds) {
  describe(`repository index on ${kind}`, () => {
    let database: TestDatabase;
    let parts: RegistryParts;
    before(async () => {
      database = await open();
      parts = await registryParts(database);
    });
    after(async () => {
      await parts.cleanup();
      await database.cleanup();
    });

    it('lists tags in byte order and pages with last/n', async () => {
      const repo = await parts.repository('paging');
      const config = await parts.pushBlob(repo, Buffer.from('{}'));
      const tags = ['b', 'B', 'a', 'A', '_x', '1.0', '1-0', 'a.b'];
      for (const tag of tags) await parts.pushImage(repo, [config], tag);
      const sorted = [...tags].sort();
      assert.deepEqual(await parts.registry.tags(repo, {}), sorted);
      const pages: string[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await parts.registry.tags(repo, { n: 3, last });
        pages.push(...page);
        if (page.length < 3) break;
        last = page[page.length - 1];
      }
      assert.deepEqual(pages, sorted);
    });

    it('orders the catalog by full name, across workspaces', async () => {
      const other = await parts.identity.createUser({ name: `${parts.owner.name}-x` });
      const names = [`${parts.owner.name}/z`, `${parts.owner.name}/a/b`, `${other.name}/a`];
      await parts.repository('z');
      await parts.repository('a/b');
      await parts.index.ensure((await parts.identity.requireWorkspace(other.name)).id, 'a');
      const listed = (await parts.registry.catalog({ everything: true }, {})).filter((n) => names.includes(n));
      assert.deepEqual(listed, [...names].sort());
    });

    it('creating the same repository concurrently yields one repository', async () => {
      const workspace = await parts.identity.requireWorkspace(parts.owner.name);
      const made = await Promise.all(Array.from({ length: 8 }, () => parts.index.ensure(workspace.id, 'concurrent')));
      assert.equal(new Set(made.map((r) => r.id)).size, 1);
    });
  });
}
