import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { adminClient, digestOf, expectOciError, randomBlob, uniqueName, userClient, type OciClient } from './support.ts';

/** One pull and one push request on `name`, the two ways a client first touches a repository. */
const pullOf = (client: OciClient, name: string) => client.fetch(`/v2/${name}/tags/list`);
const pushOf = (client: OciClient, name: string) => client.fetch(`/v2/${name}/blobs/uploads/`, { method: 'POST' });

// Repository names: the spec's grammar, and Berth's rule that the first component is a workspace.
describe('OCI repository names', () => {
  let berth: TestBerth;
  let admin: OciClient;
  let walker: OciClient;

  before(async () => {
    berth = await startBerth();
    admin = adminClient(berth);
    walker = await userClient(berth, 'walker');
  });
  after(() => berth?.close());

  const invalidNames = ['admin/UPPER', 'admin/a..b', 'admin/-lead', 'admin/trail-', 'admin//double', 'admin/a%20b', `admin/${'a'.repeat(250)}`, 'admin/ü'];

  for (const name of invalidNames) {
    it(`"${name.slice(0, 40)}" is 400 NAME_INVALID on every endpoint`, async () => {
      const digest = digestOf(randomBlob(4));
      for (const [method, path] of [
        ['GET', `/v2/${name}/tags/list`],
        ['GET', `/v2/${name}/manifests/latest`],
        ['PUT', `/v2/${name}/manifests/latest`],
        ['HEAD', `/v2/${name}/blobs/${digest}`],
        ['POST', `/v2/${name}/blobs/uploads/`],
        ['GET', `/v2/${name}/referrers/${digest}`],
      ] as const) {
        await expectOciError(await admin.fetch(path, { method }), 400, 'NAME_INVALID');
      }
    });
  }

  it('names using every separator of the grammar, and deep paths, are valid', async () => {
    for (const name of ['admin/a.b_c__d-e--f', 'admin/x/y/z/deep', `admin/${'n'.repeat(200)}`]) {
      const blob = await admin.pushBlob(name);
      assert.equal(await admin.blobStatus(name, blob.digest), 200, name);
    }
  });

  it('a path that is no registry endpoint is 404 NAME_UNKNOWN', async () => {
    await expectOciError(await admin.fetch('/v2/admin/tools/nothing-here'), 404, 'NAME_UNKNOWN');
  });

  it('a name without a workspace component is 404 NAME_UNKNOWN', async () => {
    for (const client of [admin, walker]) {
      await expectOciError(await pullOf(client, 'solo'), 404, 'NAME_UNKNOWN');
      await expectOciError(await pushOf(client, 'solo'), 404, 'NAME_UNKNOWN');
    }
  });

  it('an unknown workspace is NAME_UNKNOWN for a pull and DENIED for a push by a signed-in user', async () => {
    const name = `${uniqueName('nowhere')}/tools`;
    for (const client of [walker, admin]) {
      await expectOciError(await pullOf(client, name), 404, 'NAME_UNKNOWN');
      await expectOciError(await pushOf(client, name), 403, 'DENIED');
    }
  });

  it('an unknown workspace gives an anonymous caller only the login challenge', async () => {
    const response = await pullOf(admin.as(undefined), `${uniqueName('nowhere')}/tools`);
    await expectOciError(response, 401, 'UNAUTHORIZED');
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
  });

  it('an unknown repository in a known workspace is 404 NAME_UNKNOWN; the first push creates it', async () => {
    const name = `walker/${uniqueName('fresh')}`;
    await expectOciError(await pullOf(walker, name), 404, 'NAME_UNKNOWN');
    await walker.pushBlob(name);
    assert.deepEqual(await (await pullOf(walker, name)).json(), { name, tags: [] });
  });
});
