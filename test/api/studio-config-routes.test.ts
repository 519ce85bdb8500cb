import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StudioCheckResult } from '../../src/builder/studio-config/studio-source.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { GitHttpServer, selfSignedCertificate } from '../support/git-http-server.ts';
import { run } from '../support/processes.ts';
import { brokenConfig, dockerfileStudio, makeStudioRepository } from '../support/studio-repository.ts';

type Answer = { status: number; body: StudioCheckResult & { error?: { code: string; message: string } } };

/**
 * The API clones https:// only, so the test serves a private repository over real TLS (a self-signed certificate
 * that git is told to trust through $HOME/.gitconfig, the way git trusts GitHub's through the system store).
 */
describe('POST /api/studio-config/check', () => {
  const token = 'ghp_BerthStudioCheckToken0123456789abcdef';
  let scratch: string;
  let savedHome: string | undefined;
  let gitServer: GitHttpServer;
  let berth: TestBerth;
  let repositoryUrl: string;
  /** Git credentials are named after the host they are for. */
  let gitHost: string;
  let commit: string;
  let alice: string;
  let bob: string;
  const check = (body: unknown, as: string = alice) => berth.api('POST', '/api/studio-config/check', body, as) as Promise<Answer>;

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'berth-api-studio-'));
    await mkdir(join(scratch, 'home'));
    const tls = await selfSignedCertificate(join(scratch, 'home'));
    savedHome = process.env.HOME;
    process.env.HOME = tls.home;
    const repository = await makeStudioRepository(dockerfileStudio, scratch);
    commit = repository.commit;
    await run('git', ['clone', '--quiet', '--bare', repository.dir, join(scratch, 'served', 'lab', 'studio.git')]);
    gitServer = new GitHttpServer({ projectRoot: join(scratch, 'served'), token, tls });
    await gitServer.start();
    repositoryUrl = `${gitServer.baseUrl}/lab/studio.git`;

    berth = await startBerth();
    alice = await berth.user('alice');
    bob = await berth.user('bob');
    gitHost = new URL(repositoryUrl).host;
    const stored = await berth.api('POST', '/api/workspaces/alice/credentials', { name: gitHost, secret: token }, alice);
    assert.equal(stored.status, 201, JSON.stringify(stored.body));
    await berth.api('POST', '/api/workspaces/bob/credentials', { name: gitHost, secret: 'ghp_NotTheRightToken' }, bob);
  });
  after(async () => {
    process.env.HOME = savedHome;
    await berth?.close();
    await gitServer?.stop();
    await rm(scratch, { recursive: true, force: true });
  });

  it('checks the text of a config: valid and invalid both answer 200, with the lines of the problems', async () => {
    const valid = await check({ content: dockerfileStudio['.seqera/studio-config.yaml'] });
    assert.equal(valid.status, 200);
    assert.ok(valid.body.ok);
    assert.equal(valid.body.plan.dockerfile, '.seqera/Dockerfile');
    const invalid = await check({ content: brokenConfig });
    assert.equal(invalid.status, 200);
    assert.ok(!invalid.body.ok);
    assert.deepEqual(invalid.body.problems.map((p) => [p.file, p.line]), [
      ['.seqera/studio-config.yaml', 7],
      ['.seqera/studio-config.yaml', 9],
    ]);
  });

  it('clones a private https repository with a workspace credential, and the token appears nowhere in the answer', async () => {
    const answer = await check({ repository: repositoryUrl, revision: 'main', credential: gitHost });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.ok(answer.body.ok, JSON.stringify(answer.body));
    assert.deepEqual(answer.body.source, { repository: repositoryUrl, revision: 'main', commit });
    assert.equal(answer.body.plan.context?.files, 5);
    assert.equal(answer.body.plan.session.name, 'rnaseq-lab');
    assert.equal(JSON.stringify(answer.body).includes(token), false);
    assert.ok(gitServer.requests.some((r) => r.authorization !== null), 'git sent the token');
  });

  it('without a credential, or with a refused one, says so and points at the GitHub token', async () => {
    for (const [body, as] of [[{ repository: repositoryUrl }, alice], [{ repository: repositoryUrl, credential: gitHost, workspace: 'bob' }, bob]] as const) {
      const answer = await check(body, as);
      assert.equal(answer.status, 200);
      assert.ok(!answer.body.ok);
      assert.match(answer.body.problems[0]!.message, /authentication failed.*GitHub token/s);
      assert.equal(JSON.stringify(answer.body).includes('ghp_NotTheRightToken'), false);
    }
  });

  it('lets only members who may launch use a workspace credential, and only for the host it is named after', async () => {
    const stranger = await check({ repository: repositoryUrl, credential: gitHost, workspace: 'alice' }, bob);
    assert.equal(stranger.status, 403);
    assert.match(stranger.body.error!.message, /only members of alice with the launch role or above may use its credentials/);
    await berth.role('alice', 'bob', 'view');
    const viewer = await check({ repository: repositoryUrl, credential: gitHost, workspace: 'alice' }, bob);
    assert.equal(viewer.status, 403);
    await berth.role('alice', 'bob', 'launch');
    const member = await check({ repository: repositoryUrl, credential: gitHost, workspace: 'alice' }, bob);
    assert.equal(member.status, 200);
    assert.ok(member.body.ok, JSON.stringify(member.body));
    const elsewhere = await check({ repository: repositoryUrl, credential: 'github.com' });
    assert.equal(elsewhere.status, 400);
    assert.match(elsewhere.body.error!.message, /credential "github.com" is not for 127\.0\.0\.1:\d+/);
    await berth.api('DELETE', `/api/workspaces/bob/credentials/${encodeURIComponent(gitHost)}`, undefined, bob);
    const unknown = await check({ repository: repositoryUrl, credential: gitHost, workspace: 'bob' }, bob);
    assert.equal(unknown.status, 404);
  });

  it('refuses file://, http:// and server paths, and malformed requests, with 400', async () => {
    const refused: Array<[unknown, RegExp]> = [
      [{ repository: `file://${scratch}` }, /must be an https:\/\/ URL; the API does not clone file:\/\/ URLs/],
      [{ repository: scratch }, /must be an https:\/\/ URL of a git repository/],
      [{ repository: repositoryUrl.replace('https:', 'http:') }, /does not clone http:\/\/ URLs/],
      [{}, /give either `repository`.*or `content`/],
      [{ repository: repositoryUrl, content: 'x' }, /give either/],
      [{ content: brokenConfig, credential: 'github.com' }, /go with `repository`/],
      [{ repository: repositoryUrl, branch: 'main' }, /branch|Unrecognized/i],
    ];
    for (const [body, message] of refused) {
      const answer = await check(body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(answer.body.error?.code, 'INVALID_REQUEST');
      assert.match(answer.body.error!.message, message);
    }
  });
});
