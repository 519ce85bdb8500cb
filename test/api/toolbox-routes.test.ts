import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { startDistribution, type Distribution } from '../support/distribution.ts';
import { ociReference, twoPlatforms, writeOciLayout, type GeneratedLayout } from '../support/oci-image.ts';

type Answer<T = Record<string, unknown>> = { status: number; body: T };

describe('the toolbox API (/api/toolbox/*): operations run in Berth as the caller', () => {
  let berth: TestBerth;
  let upstream: Distribution;
  let scratch: string;
  let image: GeneratedLayout;
  let bob: string;

  const post = <T = Record<string, unknown>>(path: string, body: unknown, token = berth.adminToken) => berth.api<T>('POST', `/api/toolbox/${path}`, body, token) as Promise<Answer<T>>;

  before(async () => {
    berth = await startBerth();
    assert.equal((await berth.api('POST', '/api/workspaces', { slug: 'lab' })).status, 201);
    upstream = await startDistribution();
    scratch = await scratchDir('toolbox-api');
    image = await writeOciLayout({ dir: join(scratch, 'multi'), layers: 2, layerBytes: 2048, platforms: twoPlatforms });
    await skopeo(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(image), `docker://${berth.host}/admin/tools/multi:1`]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', ociReference(image), `docker://${upstream.host}/team/multi:1`]);
    bob = await berth.user('bob');
  });
  after(async () => {
    await berth?.close();
    await upstream?.stop();
    await removeDir(scratch);
  });

  it('explains a pasted error (doctor/explain)', async () => {
    const answer = await post<{ matches: Array<{ title: string }> }>('doctor/explain', { text: 'Error response from daemon: toomanyrequests: You have reached your pull rate limit.' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(answer.body.matches.length > 0);
  });

  it('checks an image in the caller\'s workspace through the in-process ECR API: digest and both platforms', async () => {
    const answer = await post<{ available: boolean; digest: string; platforms: Array<{ os: string; architecture: string }> }>('check', { repositoryName: 'tools/multi', imageTag: '1' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.available, true);
    assert.equal(answer.body.digest, image.top.digest);
    assert.deepEqual(answer.body.platforms.map((p) => `${p.os}/${p.architecture}`).sort(), ['linux/amd64', 'linux/arm64']);
  });

  it('grants a workspace pulls, and the grantee then pulls with its own login', async () => {
    const denied = await skopeo(['inspect', '--tls-verify=false', '--creds', creds('bob', bob), `docker://${berth.host}/admin/tools/multi:1`], { allowFailure: true });
    assert.notEqual(denied.code, 0);
    const answer = await post<{ policy: { Statement: unknown[] } }>('grant', { repositoryName: 'tools/multi', principal: 'bob', actions: 'pull' });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.policy.Statement.length, 1);
    await skopeo(['inspect', '--tls-verify=false', '--creds', creds('bob', bob), `docker://${berth.host}/admin/tools/multi:1`]);
  });

  it('creates and lists pull-through caches (pull-through-caches, pull-through-caches/list)', async () => {
    const created = await post('pull-through-caches', { upstream: upstream.url, ecrRepositoryPrefix: 'mirror' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const listed = await post<{ rules: Array<{ ecrRepositoryPrefix: string }> }>('pull-through-caches/list', {});
    assert.deepEqual(listed.body.rules.map((rule) => rule.ecrRepositoryPrefix), ['mirror']);
  });

  it('maps workflow files sent in the body, and rewrites them in the answer, never on the server', async () => {
    const files = [{ path: 'main.nf', content: "process a {\n  container 'quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0'\n}\n" }];
    const answer = await post<{ map: Record<string, string>; rewritten: Array<{ path: string; content: string }> }>('map', { files, registry: 'mirror.example.org/lab', rewrite: true });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.map, { 'quay.io/biocontainers/fastqc:0.12.1--hdfd78af_0': 'mirror.example.org/lab/quay/biocontainers/fastqc:0.12.1--hdfd78af_0' });
    assert.match(JSON.stringify(answer.body.rewritten), /mirror\.example\.org\/lab\/quay\/biocontainers\/fastqc/);
    const serverFolder = await post<{ error: { code: string } }>('map', { workflowDir: '/etc', registry: 'mirror.example.org/lab' });
    assert.equal(serverFolder.status, 400);
    assert.equal(serverFolder.body.error.code, 'INVALID_INPUT');
  });

  it('clones from a private registry with the workspace\'s credential, for maintainers only', async () => {
    const secured = await startDistribution({ htpasswd: { username: 'robot', password: 'robot-secret' } });
    try {
      await secured.push(image, 'team/private:1');
      const added = await berth.api('POST', '/api/credentials?workspaceId=lab', { credentials: { name: 'mirror', provider: 'container-reg', keys: { registry: secured.host, userName: 'robot', password: 'robot-secret' } } });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const viewer = await berth.user('vic');
      await berth.role('lab', 'vic', 'view');
      const clone = { source: `${secured.host}/team/private:1`, target: `${berth.host}/lab/mirrored/private:1` };
      const refused = await post<{ error: { code: string } }>('clone?workspace=lab', clone, viewer);
      assert.equal(refused.status, 403, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'UNAUTHORIZED');

      const copied = await post<{ totals: { blobs: { copied: number } } }>('clone?workspace=lab', clone);
      assert.equal(copied.status, 200, JSON.stringify(copied.body));
      const original = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', 'robot:robot-secret', `docker://${secured.host}/team/private:1`]);
      const inBerth = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), `docker://${berth.host}/lab/mirrored/private:1`]);
      assert.equal(inBerth.stdout, original.stdout, 'the manifest is copied byte for byte');
      assert.equal(copied.body.totals.blobs.copied, 3, JSON.stringify(copied.body.totals));
    } finally {
      await secured.stop();
    }
  });

  it('acts only in workspaces the caller belongs to', async () => {
    const outsider = await post('check?workspace=admin', { repositoryName: 'tools/multi', imageTag: '1' }, bob);
    assert.equal(outsider.status, 403, JSON.stringify(outsider.body));
    const grant = await post('grant?workspace=admin', { repositoryName: 'tools/multi', principal: 'bob', actions: 'push' }, bob);
    assert.equal(grant.status, 403);
    const unknown = await post('check?workspace=nowhere', { repositoryName: 'tools/multi' });
    assert.equal(unknown.status, 404);
  });

  it('refuses bad input with the field named, and unknown operations', async () => {
    const missing = await post<{ error: { code: string; message: string } }>('check', {});
    assert.equal(missing.status, 400);
    assert.match(missing.body.error.message, /repositoryName/);
    assert.equal((await post('nothing-here', {})).status, 404);
    assert.equal((await berth.api('GET', '/api/toolbox/check')).status, 405);
    const unauthenticated = await fetch(`${berth.url}/api/toolbox/check`, { method: 'POST', body: '{}' });
    assert.equal(unauthenticated.status, 401);
  });

  it('maps a toolbox failure to its status: an unknown repository is 404', async () => {
    const answer = await post<{ error: { code: string } }>('grant', { repositoryName: 'tools/none', principal: 'bob', actions: 'pull' });
    assert.equal(answer.status, 404, JSON.stringify(answer.body));
    assert.equal(answer.body.error.code, 'NOT_FOUND');
  });
});
