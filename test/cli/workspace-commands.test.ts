import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { runBerthCli } from '../support/berth-cli.ts';

describe('berth orgs|workspaces|members … (the CLI over /api/orgs and workspace settings)', () => {
  let berth: TestBerth;
  let aliceToken: string;
  const berthCli = (args: string[], token?: string) => runBerthCli(berth, args, { token });
  const ok = async (args: string[], token?: string) => {
    const result = await berthCli(args, token);
    assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };

  before(async () => {
    berth = await startBerth();
    aliceToken = await berth.user('alice');
    await berth.user('bob');
  });
  after(() => berth?.close());

  it('adds and lists organizations, and workspaces in them', async () => {
    assert.match(await ok(['orgs', 'add', 'science']), /^created organization science \(/);
    const orgs = JSON.parse(await ok(['orgs', 'list', '--json'])) as Array<{ name: string }>;
    assert.deepEqual(orgs.map((o) => o.name), ['science']);
    assert.match(await ok(['orgs', 'list']), /^ORGANIZATION\s+ID\nscience\s+[0-9a-f-]{36}$/m);
    const workspace = JSON.parse(await ok(['workspaces', 'add', 'lab', '--org', 'science', '--json'])) as { name: string; orgId: string };
    assert.equal(workspace.name, 'lab');
    assert.match(await ok(['workspaces', 'add', 'loose']), /^created workspace loose$/m);
    const denied = await berthCli(['orgs', 'add', 'alices'], aliceToken);
    assert.equal(denied.code, 2);
    assert.match(denied.stderr, /only a system administrator may do this/);
  });

  it('sets, lists and removes members', async () => {
    await ok(['workspaces', 'add', 'crew']);
    assert.match(await ok(['members', 'set', 'crew', 'alice', 'maintain']), /alice is maintain of crew/);
    assert.match(await ok(['members', 'list', 'crew']), /^alice\s+maintain$/m);
    const listed = JSON.parse(await ok(['members', 'list', 'crew', '--json'], aliceToken)) as Array<{ userName: string; role: string }>;
    assert.deepEqual(listed.map((p) => [p.userName, p.role]), [['admin', 'owner'], ['alice', 'maintain']]);
    const denied = await berthCli(['members', 'set', 'crew', 'bob', 'view'], aliceToken);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /takes the admin role or above/);
    await ok(['members', 'remove', 'crew', 'alice']);
    assert.doesNotMatch(await ok(['members', 'list', 'crew']), /alice/);
  });

  it('shows and changes a workspace\'s Studios settings; bad values are refused', async () => {
    assert.match(await ok(['workspaces', 'settings', 'show', 'alice'], aliceToken), new RegExp(`containerRepository\\s+${berth.host}/alice/studios`));
    const changed = JSON.parse(
      await ok(['workspaces', 'settings', 'set', 'alice', '--lifespan-hours', '3', '--private-by-default', '--name-strategy', 'tagPrefix', '--container-repository', 'registry.example.org/a/b', '--json'], aliceToken),
    ) as Record<string, unknown>;
    assert.deepEqual(changed, { containerRepository: 'registry.example.org/a/b', lifespanHours: 3, privateStudioByDefault: true, nameStrategy: 'tagPrefix' });
    const reset = JSON.parse(await ok(['workspaces', 'settings', 'set', 'alice', '--container-repository', 'default', '--no-private-by-default', '--json'], aliceToken)) as Record<string, unknown>;
    assert.deepEqual(reset, { containerRepository: `${berth.host}/alice/studios`, lifespanHours: 3, privateStudioByDefault: false, nameStrategy: 'tagPrefix' });
    const bad = await berthCli(['workspaces', 'settings', 'set', 'alice', '--lifespan-hours', '100000'], aliceToken);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /lifespanHours: /);
  });
});
