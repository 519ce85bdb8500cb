import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { waitForBuild } from '../support/build-requests.ts';
import { creds, skopeo } from '../support/containers.ts';
import { GitHttpServer, selfSignedCertificate } from '../support/git-http-server.ts';
import { run } from '../support/processes.ts';
import { dockerfileStudio, makeStudioRepository } from '../support/studio-repository.ts';

const token = 'ghp_BuilderTestToken0123456789';

/**
 * A private git repository with `.seqera/studio-config.yaml` and a Dockerfile, served over https by a real
 * `git http-backend` (its self-signed certificate trusted through $HOME/.gitconfig), built through the API.
 */
describe('builder: a studio repository from git builds', () => {
  let scratch: string;
  let savedHome: string | undefined;
  let gitServer: GitHttpServer;
  let berth: TestBerth;
  let repositoryUrl: string;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'berth-git-build-'));
    await mkdir(join(scratch, 'home'));
    const tls = await selfSignedCertificate(join(scratch, 'home'));
    savedHome = process.env.HOME;
    process.env.HOME = tls.home;
    const repository = await makeStudioRepository(dockerfileStudio, scratch);
    await run('git', ['clone', '--quiet', '--bare', repository.dir, join(scratch, 'served', 'lab', 'studio.git')]);
    gitServer = new GitHttpServer({ projectRoot: join(scratch, 'served'), token, tls });
    await gitServer.start();
    repositoryUrl = `${gitServer.baseUrl}/lab/studio.git`;
    berth = await startBerth({ config: { builder: { executor: 'buildah' } } });
    // A git credential is named after its host, and sent only there.
    const stored = await berth.api('POST', '/api/workspaces/admin/credentials', { name: new URL(repositoryUrl).host, secret: token });
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
  });
  after(async () => {
    process.env.HOME = savedHome;
    await berth?.close();
    await gitServer?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('.seqera/ is the context, .dockerignore is honoured, and the image lands in the workspace', async () => {
    const submitted = await berth.api<{ buildId: string; targetImage: string; cached: boolean }>('POST', '/api/builds', {
      remoteConfig: { repository: repositoryUrl, credential: new URL(repositoryUrl).host },
      buildRepository: `${berth.host}/admin/lab`,
    });
    assert.equal(submitted.status, 200, JSON.stringify(submitted.body));
    const record = await waitForBuild(berth, submitted.body.buildId);
    assert.equal(record.status, 'succeeded', JSON.stringify(record));

    const layout = join(scratch, 'pulled');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', creds('admin', berth.adminToken), `docker://${submitted.body.targetImage}`, `oci:${layout}`]);
    const listed: string[] = [];
    for (const blob of await readdir(join(layout, 'blobs', 'sha256'))) {
      const tar = await run('tar', ['-tzf', join(layout, 'blobs', 'sha256', blob)], { allowFailure: true });
      if (tar.code === 0) listed.push(...tar.stdout.split('\n'));
    }
    assert.ok(listed.some((path) => path.endsWith('app/run.sh')), listed.join(','));
    assert.ok(!listed.some((path) => path.includes('big.bin')), 'the ignored file stayed out');

    const again = await berth.api<{ cached: boolean; buildId: string }>('POST', '/api/builds', { remoteConfig: { repository: repositoryUrl, credential: new URL(repositoryUrl).host }, buildRepository: `${berth.host}/admin/lab` });
    assert.equal(again.body.cached, true);
  });

  it('without the token the clone fails with a clear message; file:// URLs are refused', async () => {
    const denied = await berth.api<{ error: { code: string; message: string } }>('POST', '/api/builds', { remoteConfig: { repository: repositoryUrl } });
    assert.equal(denied.status, 400);
    assert.equal(denied.body.error.code, 'INVALID_STUDIO_REPOSITORY');
    assert.match(denied.body.error.message, /token|credential/i);
    const local = await berth.api<{ error: { message: string } }>('POST', '/api/builds', { remoteConfig: { repository: `file://${scratch}` } });
    assert.equal(local.status, 400);
    assert.match(local.body.error.message, /https:\/\//);
  });
});
