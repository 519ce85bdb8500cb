import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { databaseKinds } from '../support/databases.ts';
import { useRegistryParts } from '../support/registry-parts.ts';

for (const { kind, open } of databaseKinds) {
  describe(`repository index on ${kind}`, () => {
    const setup = useRegistryParts(open);

    it('lists tags in byte order and pages with last/n', async () => {
      const repo = await setup.parts.repository('paging');
      const config = await setup.parts.pushBlob(repo, Buffer.from('{}'));
      const tags = ['b', 'B', 'a', 'A', '_x', '1.0', '1-0', 'a.b'];
      for (const tag of tags) await setup.parts.pushImage(repo, [config], tag);
      const sorted = [...tags].sort();
      assert.deepEqual(await setup.parts.registry.tags(repo, {}), sorted);
      const pages: string[] = [];
      let last: string | undefined;
      for (;;) {
        const page = await setup.parts.registry.tags(repo, { n: 3, last });
        pages.push(...page);
        if (page.length < 3) break;
        last = page[page.length - 1];
      }
      assert.deepEqual(pages, sorted);
    });

    it('orders the catalog by full name, across workspaces', async () => {
      const other = await setup.parts.identity.createUser({ name: `${setup.parts.owner.name}-x` });
      const names = [`${setup.parts.owner.name}/z`, `${setup.parts.owner.name}/a/b`, `${other.name}/a`];
      await setup.parts.repository('z');
      await setup.parts.repository('a/b');
      await setup.parts.index.ensure((await setup.parts.identity.requireWorkspace(other.name)).id, 'a');
      const listed = (await setup.parts.registry.catalog({ everything: true }, {})).filter((n) => names.includes(n));
      assert.deepEqual(listed, [...names].sort());
    });

    it('creating the same repository concurrently yields one repository', async () => {
      const workspace = await setup.parts.identity.requireWorkspace(setup.parts.owner.name);
      const made = await Promise.all(Array.from({ length: 8 }, () => setup.parts.index.ensure(workspace.id, 'concurrent')));
      assert.equal(new Set(made.map((r) => r.id)).size, 1);
    });
  });
}
