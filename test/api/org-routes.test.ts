import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';

interface ErrorBody {
  error: { code: string; message: string };
}
interface WorkspaceView {
  id: string;
  name: string;
  orgId: string | null;
}
interface Settings {
  containerRepository: string | null;
  lifespanHours: number | null;
  privateStudioByDefault: boolean;
  nameStrategy: string | null;
}

describe('organizations, workspaces, participants and Studios settings (/api/orgs)', () => {
  let berth: TestBerth;
  /** Tokens by user: alice owns workspace lab of org science, bob maintains it, carol views it, dave is in none. */
  const token: Record<string, string> = {};
  let orgId: string;
  let lab: WorkspaceView;
  const as = <T = ErrorBody>(user: string, method: string, path: string, body?: unknown) => berth.api<T>(method, path, body, token[user]);

  before(async () => {
    berth = await startBerth();
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) token[name] = await berth.user(name);
    const created = await berth.api<{ organization: { orgId: string; name: string } }>('POST', '/api/orgs', { name: 'science' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    orgId = created.body.organization.orgId;
    const workspace = await berth.api<{ workspace: WorkspaceView }>('POST', `/api/orgs/${orgId}/workspaces`, { name: 'lab', fullName: 'The Lab' });
    assert.equal(workspace.status, 201, JSON.stringify(workspace.body));
    lab = workspace.body.workspace;
    for (const [user, role] of [['alice', 'owner'], ['bob', 'maintain'], ['carol', 'view']] as const) {
      assert.equal((await berth.api('PUT', `/api/orgs/science/workspaces/lab/participants/${user}`, { role })).status, 200);
    }
  });
  after(() => berth?.close());

  it('only a system administrator creates an organization; names are unique', async () => {
    const denied = await as('alice', 'POST', '/api/orgs', { name: 'alices-org' });
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'FORBIDDEN');
    assert.equal((await berth.api<ErrorBody>('POST', '/api/orgs', { name: 'science' })).status, 409);
    const bad = await berth.api<ErrorBody>('POST', '/api/orgs', { name: 'No Spaces' });
    assert.equal(bad.status, 400);
  });

  it('an organization is seen by system administrators and by members of its workspaces, by id or by name', async () => {
    const listed = await as<{ organizations: Array<{ orgId: string; name: string }> }>('carol', 'GET', '/api/orgs');
    assert.deepEqual(listed.body.organizations, [{ orgId, name: 'science' }]);
    assert.deepEqual((await as<{ organizations: unknown[] }>('dave', 'GET', '/api/orgs')).body.organizations, []);
    assert.equal((await as('carol', 'GET', `/api/orgs/${orgId}`)).status, 200);
    assert.equal((await as('carol', 'GET', '/api/orgs/science')).status, 200);
    const hidden = await as('dave', 'GET', '/api/orgs/science');
    assert.equal(hidden.status, 404, 'a non-member cannot tell the organization exists');
    assert.equal((await as('dave', 'GET', '/api/orgs/science/workspaces')).status, 404);
  });

  it('lists an organization\'s workspaces: all for a system administrator, the caller\'s own for others', async () => {
    assert.deepEqual([lab.name, lab.orgId], ['lab', orgId]);
    const hidden = await berth.api<{ workspace: WorkspaceView }>('POST', '/api/orgs/science/workspaces', { name: 'hidden-lab' });
    assert.equal(hidden.status, 201);
    const all = await berth.api<{ workspaces: WorkspaceView[] }>('GET', '/api/orgs/science/workspaces');
    const names = all.body.workspaces.map((w) => w.name);
    assert.ok(names.includes('hidden-lab') && names.includes('lab'), names.join());
    const carols = await as<{ workspaces: Array<WorkspaceView & { role: string }> }>('carol', 'GET', `/api/orgs/${orgId}/workspaces`);
    assert.deepEqual(carols.body.workspaces.map((w) => [w.name, w.role]), [['lab', 'view']]);
  });

  it('an owner or admin of one of its workspaces adds a workspace to an organization; others may not', async () => {
    const created = await as<{ workspace: WorkspaceView }>('alice', 'POST', '/api/orgs/science/workspaces', { name: 'alice-lab' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.workspace.orgId, orgId);
    const members = await as<{ participants: Array<{ userName: string; role: string }> }>('alice', 'GET', '/api/orgs/science/workspaces/alice-lab/participants');
    assert.deepEqual(members.body.participants.map((p) => [p.userName, p.role]), [['alice', 'owner']]);
    const byMaintainer = await as('bob', 'POST', '/api/orgs/science/workspaces', { name: 'bob-lab' });
    assert.equal(byMaintainer.status, 403);
    assert.match(byMaintainer.body.error.message, /owner or admin of a workspace of science/);
    assert.equal((await as('dave', 'POST', '/api/orgs/science/workspaces', { name: 'dave-lab' })).status, 404);
    const bad = await berth.api<ErrorBody>('POST', '/api/orgs/science/workspaces', { name: 'lab', colour: 'red' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /colour/);
  });

  it('POST /api/workspaces with an organization asks the same of the caller as POST /api/orgs/{org}/workspaces', async () => {
    const byMaintainer = await as('bob', 'POST', '/api/workspaces', { slug: 'bob-side-lab', organization: 'science' });
    assert.equal(byMaintainer.status, 403, 'a maintainer may not add a workspace to the organization through the older path either');
    assert.match(byMaintainer.body.error.message, /owner or admin of a workspace of science/);
    const byStranger = await as('dave', 'POST', '/api/workspaces', { slug: 'dave-side-lab', organization: 'science' });
    assert.equal(byStranger.status, 404, 'a non-member cannot tell the organization exists');
    const names = (await berth.api<{ workspaces: WorkspaceView[] }>('GET', '/api/orgs/science/workspaces')).body.workspaces.map((w) => w.name);
    assert.ok(!names.includes('bob-side-lab') && !names.includes('dave-side-lab'), names.join());
    const byOwner = await as<{ workspace: { slug: string; organizationId: string } }>('alice', 'POST', '/api/workspaces', { slug: 'alice-side-lab', organization: 'science' });
    assert.equal(byOwner.status, 201, JSON.stringify(byOwner.body));
    assert.equal(byOwner.body.workspace.organizationId, orgId);
    assert.equal((await as('dave', 'POST', '/api/workspaces', { slug: 'dave-own-lab' })).status, 201, 'a workspace outside any organization needs no role');
  });

  it('lists participants for view and above, by workspace id or slug, under the organization or not', async () => {
    for (const path of [`/api/orgs/science/workspaces/lab/participants`, `/api/orgs/${orgId}/workspaces/${lab.id}/participants`, `/api/workspaces/lab/participants`]) {
      const listed = await as<{ participants: Array<{ userId: string; userName: string; role: string }> }>('carol', 'GET', path);
      assert.equal(listed.status, 200, path);
      assert.deepEqual(listed.body.participants.map((p) => [p.userName, p.role]), [['admin', 'owner'], ['alice', 'owner'], ['bob', 'maintain'], ['carol', 'view']]);
    }
    const stranger = await as('dave', 'GET', '/api/workspaces/lab/participants');
    assert.equal(stranger.status, 403);
    assert.match(stranger.body.error.message, /dave may not see its members in workspace lab: it takes the view role or above/);
    assert.equal((await as('dave', 'GET', '/api/orgs/science/workspaces/lab/participants')).status, 404);
    const otherOrg = await berth.api('POST', '/api/orgs', { name: 'arts' });
    assert.equal(otherOrg.status, 201);
    assert.equal((await berth.api('GET', '/api/orgs/arts/workspaces/lab/participants')).status, 404, 'lab is not in arts');
  });

  it('members are managed by admins and above; only owners make or unmake owners', async () => {
    assert.equal((await berth.api('POST', '/api/orgs/science/workspaces', { name: 'crew' })).status, 201);
    for (const [user, role] of [['alice', 'owner'], ['bob', 'maintain'], ['carol', 'view']] as const) {
      assert.equal((await berth.api('PUT', `/api/workspaces/crew/participants/${user}`, { role })).status, 200);
    }
    assert.equal((await as('carol', 'PUT', '/api/workspaces/crew/participants/erin', { role: 'view' })).status, 403, 'view may not');
    assert.equal((await as('bob', 'PUT', '/api/workspaces/crew/participants/erin', { role: 'view' })).status, 403, 'maintain may not');
    assert.equal((await as('alice', 'PUT', '/api/orgs/science/workspaces/crew/participants/bob', { role: 'admin' })).status, 200);
    const granted = await as<{ participant: { userName: string; role: string } }>('bob', 'PUT', '/api/workspaces/crew/participants/erin', { role: 'launch' });
    assert.equal(granted.status, 200);
    assert.deepEqual(granted.body.participant.role, 'launch');
    const ownerByAdmin = await as('bob', 'PUT', '/api/workspaces/crew/participants/erin', { role: 'owner' });
    assert.equal(ownerByAdmin.status, 403);
    assert.match(ownerByAdmin.body.error.message, /only an owner of crew may grant or take away the owner role/);
    assert.equal((await as('bob', 'DELETE', '/api/workspaces/crew/participants/alice')).status, 403, 'an admin cannot remove an owner');
    assert.equal((await as('bob', 'DELETE', '/api/workspaces/crew/participants/erin')).status, 204);
    assert.equal((await as('bob', 'DELETE', '/api/workspaces/crew/participants/erin')).status, 204, 'removing is idempotent');
    const bad = await as('alice', 'PUT', '/api/workspaces/crew/participants/erin', { role: 'superuser' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^role: /);
    assert.equal((await as('alice', 'PUT', '/api/workspaces/crew/participants/nobody', { role: 'view' })).status, 404);
    const roles = await as<{ participants: Array<{ userName: string; role: string }> }>('carol', 'GET', '/api/workspaces/crew/participants');
    assert.deepEqual(roles.body.participants.map((p) => p.userName), ['admin', 'alice', 'bob', 'carol'], 'failed changes changed nothing');
  });

  it('a workspace keeps an owner, and a personal workspace keeps its user as owner', async () => {
    const solo = await as<{ workspace: WorkspaceView }>('alice', 'POST', '/api/orgs/science/workspaces', { name: 'solo' });
    assert.equal(solo.status, 201);
    const last = await as('alice', 'PUT', '/api/workspaces/solo/participants/alice', { role: 'admin' });
    assert.equal(last.status, 409);
    assert.match(last.body.error.message, /last owner of solo/);
    assert.equal((await as('alice', 'DELETE', '/api/workspaces/solo/participants/alice')).status, 409);
    assert.equal((await as('erin', 'PUT', '/api/workspaces/erin/participants/alice', { role: 'owner' })).status, 200);
    const personal = await as('alice', 'DELETE', '/api/workspaces/erin/participants/erin');
    assert.equal(personal.status, 409);
    assert.match(personal.body.error.message, /erin's personal workspace/);
  });

  it('Studios settings: effective defaults for view and above, changed by admins and above', async () => {
    const path = '/api/orgs/science/workspaces/lab/settings/studios';
    const defaults = await as<{ settings: Settings }>('carol', 'GET', path);
    assert.equal(defaults.status, 200);
    assert.deepEqual(defaults.body.settings, { containerRepository: `${berth.host}/lab/studios`, lifespanHours: 8, privateStudioByDefault: false, nameStrategy: null });
    assert.equal((await as('dave', 'GET', '/api/workspaces/lab/settings/studios')).status, 403);

    const byViewer = await as('carol', 'PUT', path, { lifespanHours: 2 });
    assert.equal(byViewer.status, 403);
    assert.match(byViewer.body.error.message, /takes the admin role or above/);
    const changed = await as<{ settings: Settings }>('alice', 'PUT', path, { containerRepository: 'registry.example.org/lab/studios', lifespanHours: 2, privateStudioByDefault: true, nameStrategy: 'imageSuffix' });
    assert.equal(changed.status, 200, JSON.stringify(changed.body));
    const expected = { containerRepository: 'registry.example.org/lab/studios', lifespanHours: 2, privateStudioByDefault: true, nameStrategy: 'imageSuffix' };
    assert.deepEqual(changed.body.settings, expected);
    assert.deepEqual((await as<{ settings: Settings }>('carol', 'GET', `/api/workspaces/${lab.id}/settings/studios`)).body.settings, expected);

    for (const [body, field] of [
      [{ lifespanHours: 9000 }, 'lifespanHours'],
      [{ containerRepository: 'Not A Repository' }, 'containerRepository'],
      [{ nameStrategy: 'random' }, 'nameStrategy'],
      [{ privateStudioByDefault: 'yes' }, 'privateStudioByDefault'],
    ] as const) {
      const bad = await as('alice', 'PUT', path, { ...body, lifespanHours: 'lifespanHours' in body ? body.lifespanHours : 5 });
      assert.equal(bad.status, 400, field);
      assert.equal(bad.body.error.code, 'INVALID_REQUEST');
      assert.match(bad.body.error.message, new RegExp(`^${field}: `));
    }
    assert.deepEqual((await as<{ settings: Settings }>('carol', 'GET', path)).body.settings, expected, 'bad input changed nothing');
  });

  it('a personal workspace has its settings under /api/workspaces, and PUT takes the {settings} envelope too', async () => {
    const path = '/api/workspaces/dave/settings/studios';
    const shown = await as<{ settings: Settings }>('dave', 'GET', path);
    assert.equal(shown.body.settings.containerRepository, `${berth.host}/dave/studios`);
    const changed = await as<{ settings: Settings }>('dave', 'PUT', path, { settings: { lifespanHours: 0, containerRepository: null } });
    assert.equal(changed.status, 200);
    assert.deepEqual(changed.body.settings, { containerRepository: `${berth.host}/dave/studios`, lifespanHours: 0, privateStudioByDefault: false, nameStrategy: null });
    assert.equal((await as('alice', 'PUT', path, { lifespanHours: 1 })).status, 403, 'others may not');
    assert.equal((await berth.api('GET', '/api/orgs/science/workspaces/dave/settings/studios')).status, 404, 'a personal workspace is in no organization');
  });
});
