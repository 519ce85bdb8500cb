import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../support/berth.ts';

interface TemplatesAnswer {
  templates: Array<{ repository: string; icon: string; status: string; tool: string }>;
  totalSize: number;
}

describe('GET /api/studios/templates', () => {
  let berth: TestBerth;
  let viewer: string;
  let outsider: string;

  before(async () => {
    berth = await startBerth({
      config: {
        studios: {
          allowedWorkspaces: ['admin'],
          templates: { 'my-tool': { repository: 'registry.example.org/team/my-tool', versions: ['1.0-0.1.0', '1.1-0.1.0'] }, jupyter: { icon: 'notebook' } },
        },
      },
    });
    viewer = await berth.user('viewer');
    outsider = await berth.user('outsider');
    await berth.role('admin', 'viewer', 'view');
  });
  after(async () => {
    await berth?.close();
  });

  it('lists every template image as {repository, icon, status, tool} with totalSize, never "custom" for the built-in four', async () => {
    const { status, body } = await berth.api<TemplatesAnswer>('GET', '/api/studios/templates?workspaceId=admin');
    assert.equal(status, 200);
    assert.equal(body.totalSize, body.templates.length);
    for (const entry of body.templates) assert.deepEqual(Object.keys(entry).sort(), ['icon', 'repository', 'status', 'tool']);
    const builtIn = body.templates.filter((entry) => entry.repository.startsWith('cr.berth.dev/studios/'));
    assert.deepEqual([...new Set(builtIn.map((entry) => entry.tool))], ['jupyter', 'vscode', 'rstudio', 'xpra']);
    for (const tool of ['jupyter', 'vscode', 'rstudio', 'xpra']) {
      const versions = builtIn.filter((entry) => entry.tool === tool);
      assert.equal(versions[0]!.status, 'recommended', tool);
      assert.ok(versions.slice(1).every((entry) => entry.status === 'deprecated'), tool);
    }
    assert.ok(builtIn.filter((entry) => entry.tool === 'jupyter').every((entry) => entry.icon === 'notebook'), 'configured icon');
    assert.deepEqual(
      body.templates.filter((entry) => entry.tool === 'custom'),
      [
        { repository: 'registry.example.org/team/my-tool:1.1-0.1.0', icon: 'custom', status: 'recommended', tool: 'custom' },
        { repository: 'registry.example.org/team/my-tool:1.0-0.1.0', icon: 'custom', status: 'deprecated', tool: 'custom' },
      ],
    );
  });

  it('pages with max and offset, totalSize counting them all', async () => {
    const all = (await berth.api<TemplatesAnswer>('GET', '/api/studios/templates?workspaceId=admin')).body;
    const page = await berth.api<TemplatesAnswer>('GET', '/api/studios/templates?workspaceId=admin&max=3&offset=2');
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.templates, all.templates.slice(2, 5));
    assert.equal(page.body.totalSize, all.totalSize);
    const bad = await berth.api<{ error: { code: string; message: string } }>('GET', '/api/studios/templates?workspaceId=admin&max=-1');
    assert.equal(bad.status, 400);
    assert.match(bad.body.error.message, /^max: /);
  });

  it('takes the workspace by id too, and the view role', async () => {
    const { id } = await berth.server.database.db.selectFrom('workspaces').select('id').where('slug', '=', 'admin').executeTakeFirstOrThrow();
    const byId = await berth.api<TemplatesAnswer>('GET', `/api/studios/templates?workspaceId=${id}`, undefined, viewer);
    assert.equal(byId.status, 200);
    assert.ok(byId.body.totalSize > 0);
    const denied = await berth.api<{ error: { code: string } }>('GET', '/api/studios/templates?workspaceId=admin', undefined, outsider);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'FORBIDDEN');
  });

  it('answers 403 STUDIOS_DISABLED for a workspace that may not use Studios', async () => {
    const denied = await berth.api<{ error: { code: string; message: string } }>('GET', '/api/studios/templates', undefined, outsider);
    assert.equal(denied.status, 403);
    assert.equal(denied.body.error.code, 'STUDIOS_DISABLED');
    assert.match(denied.body.error.message, /outsider/);
  });
});
