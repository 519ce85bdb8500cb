import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { migrateRepositories, parseLocation, pullThroughHint } from '../../../src/toolbox/clone/migrate.ts';
import { ToolboxError } from '../../../src/toolbox/toolbox-operation.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { removeDir, scratchDir, skopeo } from '../../support/containers.ts';
import { startDistribution, type Distribution } from '../../support/distribution.ts';
import { twoPlatforms, writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';
import { cloneContext, pushLayout, rawManifest } from './clone-fixtures.ts';

describe('migrateRepositories from a distribution prefix into Berth', () => {
  let berth: TestBerth;
  let source: Distribution;
  let dir: string;
  let tool: GeneratedLayout;
  let notebook: GeneratedLayout;
  let admin: { username: string; password: string };

  before(async () => {
    dir = await scratchDir('migrate');
    [berth, source] = await Promise.all([startBerth(), startDistribution()]);
    admin = { username: 'admin', password: berth.adminToken };
    tool = await writeOciLayout({ dir: join(dir, 'tool'), tag: '1', layers: 2, layerBytes: 40 * 1024 });
    notebook = await writeOciLayout({ dir: join(dir, 'notebook'), tag: 'latest', layers: 1, layerBytes: 40 * 1024, platforms: twoPlatforms });
    await pushLayout(tool, `${source.host}/old-org/tool:1`);
    await pushLayout(tool, `${source.host}/old-org/tool:2`);
    await pushLayout(notebook, `${source.host}/old-org/images/notebook:latest`);
    await pushLayout(tool, `${source.host}/elsewhere/tool:1`);
  });

  after(async () => {
    await Promise.allSettled([berth?.close(), source?.stop()]);
    await removeDir(dir);
  });

  const berthTags = async (repository: string) => {
    const listed = await skopeo(['list-tags', '--tls-verify=false', '--creds', `admin:${berth.adminToken}`, `docker://${berth.host}/${repository}`], { allowFailure: true });
    return listed.code === 0 ? (JSON.parse(listed.stdout) as { Tags: string[] }).Tags.sort() : undefined;
  };

  it('a dry run lists the repositories under the prefix (from the catalog), their tags and sizes, and changes nothing', async () => {
    const result = await migrateRepositories({ from: `${source.host}/old-org`, to: `${berth.host}/admin/new`, dryRun: true }, cloneContext({ [berth.host]: admin }));
    assert.equal(result.dryRun, true);
    assert.deepEqual(
      result.repositories.map((r) => [r.source, r.target, r.tags]),
      [
        [`${source.host}/old-org/images/notebook`, `${berth.host}/admin/new/images/notebook`, ['latest']],
        [`${source.host}/old-org/tool`, `${berth.host}/admin/new/tool`, ['1', '2']],
      ],
    );
    const toolBytes = tool.images[0]!.config.size + tool.images[0]!.layers.reduce((n, l) => n + l.size, 0);
    assert.equal(result.repositories[1]!.sizeBytes, toolBytes, 'blobs shared by tags count once');
    assert.equal(result.replacements[`${source.host}/old-org/tool:2`], `${berth.host}/admin/new/tool:2`);
    assert.equal(result.totals, undefined);
    assert.equal(await berthTags('admin/new/tool'), undefined, 'nothing was copied');
    assert.equal(await berthTags('admin/new/images/notebook'), undefined);
  });

  it('a real run copies every tag of each repository and gives the configuration lines', async () => {
    const result = await migrateRepositories({ from: `${source.host}/old-org`, to: `${berth.host}/admin/new` }, cloneContext({ [berth.host]: admin }));
    assert.deepEqual(await berthTags('admin/new/tool'), ['1', '2']);
    assert.deepEqual(await berthTags('admin/new/images/notebook'), ['latest']);
    assert.equal(await rawManifest(`${berth.host}/admin/new/images/notebook:latest`, admin), await rawManifest(`${source.host}/old-org/images/notebook:latest`));
    assert.ok(result.totals && result.totals.blobs.copied > 0);
    const lines = result.configuration.map((c) => c.line);
    assert.ok(lines.includes(`c.KubeSpawner.image = "${berth.host}/admin/new/images/notebook:latest"`));
    assert.ok(lines.includes(`process.container = '${berth.host}/admin/new/tool:2'`));
    assert.ok(lines.includes(`singleuser_image_name = "${berth.host}/admin/new/images/notebook"`));
    assert.ok(lines.includes(`sed -i.bak 's#${source.host}/old-org/#${berth.host}/admin/new/#g' FILES…`));
    assert.equal(result.pullThrough, undefined, 'a private registry has no pull-through preset');
    assert.equal(await berthTags('admin/new/elsewhere/tool'), undefined, 'repositories outside the prefix stay');
  });

  it('moves an explicit list, and says so when a name is not there', async () => {
    const result = await migrateRepositories({ from: source.host, to: `${berth.host}/admin/picked`, repositories: ['elsewhere/tool'] }, cloneContext({ [berth.host]: admin }));
    assert.deepEqual(result.repositories.map((r) => r.target), [`${berth.host}/admin/picked/elsewhere/tool`]);
    await assert.rejects(
      migrateRepositories({ from: `${source.host}/old-org`, to: `${berth.host}/admin/picked`, repositories: ['missing'] }, cloneContext({ [berth.host]: admin })),
      (error: unknown) => error instanceof ToolboxError && error.code === 'NOT_FOUND',
    );
  });

  it('points out a pull-through cache rule for a public registry, with the exact command', () => {
    const hint = pullThroughHint(parseLocation('ghcr.io/old-org', 'from'), parseLocation('berth.example.org/lab/mirror', 'to'), [
      { source: 'ghcr.io/old-org/tool', target: 'berth.example.org/lab/mirror/tool', tags: ['1.0', 'latest'], sizeBytes: 1 },
    ]);
    assert.equal(hint?.command, 'berth registry cache-rules create ghcr github-container-registry --workspace lab');
    assert.equal(hint?.example, 'berth.example.org/lab/ghcr/old-org/tool:latest');
    assert.equal(pullThroughHint(parseLocation('docker.io/biocontainers', 'from'), parseLocation('h.example/lab', 'to'), [])?.upstream, 'docker-hub');
    assert.deepEqual(parseLocation('biocontainers', 'from'), { registry: 'docker.io', prefix: 'biocontainers' });
  });
});
