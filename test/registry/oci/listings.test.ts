import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { adminClient, createWorkspace, expectOciError, uniqueName, userClient, type OciClient } from './support.ts';

/** Tags chosen so that byte order differs from case-insensitive or natural order. */
const tags = ['v10', 'v2', 'V3', 'latest', '1.0', 'a_b', 'a-b', 'Z', 'a.b', '_under'];
const lexical = [...tags].sort(); // UTF-16 order is byte order for ASCII

/** Follows `Link: <…>; rel="next"` from `path` until a page has none; returns each page's items. */
async function walk(client: OciClient, path: string, field: 'tags' | 'repositories'): Promise<string[][]> {
  const pages: string[][] = [];
  let next: string | undefined = path;
  while (next) {
    const response = await client.fetch(next);
    assert.equal(response.status, 200, await response.clone().text());
    pages.push(((await response.json()) as Record<typeof field, string[]>)[field]);
    const link = response.headers.get('link');
    if (link === null) break;
    const match = /^<([^>]+)>;\s*rel="next"$/.exec(link);
    assert.ok(match, `malformed Link header: ${link}`);
    next = match[1];
    assert.ok(pages.length <= 100, 'paging does not end');
  }
  return pages;
}

// end-8a and end-8b (tags list), and the catalog.
describe('OCI listings', () => {
  let berth: TestBerth;
  let admin: OciClient;
  const repository = `admin/${uniqueName('tags')}`;

  before(async () => {
    berth = await startBerth();
    admin = adminClient(berth);
    const image = await admin.pushImage(repository);
    for (const tag of tags) await admin.pushManifestBytes(repository, image.bytes, image.mediaType, tag);
  });
  after(() => berth?.close());

  describe('tags', () => {
    it('lists all tags in lexical (byte) order with the repository name', async () => {
      const response = await admin.fetch(`/v2/${repository}/tags/list`);
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('link'), null);
      assert.deepEqual(await response.json(), { name: repository, tags: lexical });
    });

    for (const n of [1, 3, 4, tags.length]) {
      it(`n=${n}: Link rel="next" walks every page, each at most n long, together all tags`, async () => {
        const pages = await walk(admin, `/v2/${repository}/tags/list?n=${n}`, 'tags');
        assert.ok(pages.every((page) => page.length <= n));
        assert.ok(pages.slice(0, -1).every((page) => page.length === n), 'only the last page may be short');
        assert.deepEqual(pages.flat(), lexical);
      });
    }

    it('the Link header points at the same path with n and last', async () => {
      const response = await admin.fetch(`/v2/${repository}/tags/list?n=2`);
      assert.equal(response.headers.get('link'), `</v2/${repository}/tags/list?n=2&last=${encodeURIComponent(lexical[1]!)}>; rel="next"`);
    });

    it('last= starts after the given tag, even one that does not exist', async () => {
      const after = async (last: string, n?: number) =>
        ((await (await admin.fetch(`/v2/${repository}/tags/list?last=${encodeURIComponent(last)}${n ? `&n=${n}` : ''}`)).json()) as { tags: string[] }).tags;
      assert.deepEqual(await after(lexical[3]!), lexical.slice(4));
      assert.deepEqual(await after(lexical[3]!, 2), lexical.slice(4, 6));
      assert.deepEqual(await after('a'), lexical.filter((t) => t > 'a'));
      assert.deepEqual(await after(lexical.at(-1)!), []);
    });

    it('n=0 gives an empty list', async () => {
      const response = await admin.fetch(`/v2/${repository}/tags/list?n=0`);
      assert.deepEqual(((await response.json()) as { tags: string[] }).tags, []);
    });

    for (const n of ['abc', '-1', '1.5', '2x']) {
      it(`n=${n} is 400 PAGINATION_NUMBER_INVALID`, async () => {
        await expectOciError(await admin.fetch(`/v2/${repository}/tags/list?n=${n}`), 400, 'PAGINATION_NUMBER_INVALID');
      });
    }

    it('a repository without tags lists none', async () => {
      const empty = `admin/${uniqueName('untagged')}`;
      await admin.pushBlob(empty);
      assert.deepEqual(await (await admin.fetch(`/v2/${empty}/tags/list`)).json(), { name: empty, tags: [] });
    });
  });

  describe('catalog', () => {
    const team = uniqueName('team');
    const teamRepositories = [`${team}/b`, `${team}/a/nested`, `${team}/a`];
    const privateRepository = `admin/${uniqueName('private')}`;
    const publicRepository = `admin/${uniqueName('public')}`;
    let reader: OciClient;
    let readerRepository: string;

    before(async () => {
      await createWorkspace(berth, team);
      for (const name of [...teamRepositories, privateRepository, publicRepository]) await admin.pushBlob(name);
      assert.equal((await berth.api('PATCH', `/api/registry/repositories/${publicRepository}`, { public: true })).status, 200);
      reader = await userClient(berth, 'reader');
      await berth.role(team, 'reader', 'view');
      readerRepository = `reader/${uniqueName('own')}`;
      await reader.pushBlob(readerRepository);
    });

    const catalog = async (client: OciClient, query = '') =>
      ((await (await client.fetch(`/v2/_catalog${query}`)).json()) as { repositories: string[] }).repositories;

    it('lists every repository for the administrator, in lexical order', async () => {
      const all = await catalog(admin);
      for (const name of [...teamRepositories, privateRepository, publicRepository, readerRepository, repository]) assert.ok(all.includes(name), name);
      assert.deepEqual(all, [...all].sort());
    });

    for (const n of [1, 2, 5]) {
      it(`n=${n}: Link rel="next" walks the whole catalog`, async () => {
        const pages = await walk(admin, `/v2/_catalog?n=${n}`, 'repositories');
        assert.ok(pages.slice(0, -1).every((page) => page.length === n));
        assert.deepEqual(pages.flat(), await catalog(admin));
      });
    }

    it('last= and n page the catalog too', async () => {
      const all = await catalog(admin);
      assert.deepEqual(await catalog(admin, `?n=2&last=${encodeURIComponent(all[1]!)}`), all.slice(2, 4));
    });

    it('invalid n is 400 PAGINATION_NUMBER_INVALID', async () => {
      await expectOciError(await admin.fetch('/v2/_catalog?n=many'), 400, 'PAGINATION_NUMBER_INVALID');
    });

    it('lists only repositories the caller may pull', async () => {
      const visible = await catalog(reader);
      assert.deepEqual(visible, [...teamRepositories, publicRepository, readerRepository].sort());
    });
  });
});
