import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cloneGitSource, GitSourceError, type GitSourceErrorCode, type GitSourceOptions } from '../../../src/builder/git/git-source.ts';
import { GitHttpServer } from '../../support/git-http-server.ts';
import { run } from '../../support/processes.ts';

const scratch: string[] = [];
after(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

async function tempDir(prefix = 'berth-git-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

const gitAs = (cwd: string) => (args: string[]) =>
  run('git', ['-c', 'user.name=Berth Test', '-c', 'user.email=test@berth.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd }).then((r) => r.stdout.trim());

interface SourceRepository {
  dir: string;
  commits: { first: string; second: string; feature: string };
}

/**
 * A repository with history: main has two commits (`v1` lightweight and `v1-annotated` on the first), and a
 * `feature` branch one commit ahead of the first.
 */
async function makeSourceRepository(): Promise<SourceRepository> {
  const dir = await tempDir('berth-git-source-');
  const git = gitAs(dir);
  await git(['init', '--quiet']);
  await writeFile(join(dir, 'version.txt'), 'one\n');
  await git(['add', 'version.txt']);
  await git(['commit', '--quiet', '-m', 'one']);
  const first = await git(['rev-parse', 'HEAD']);
  await git(['tag', 'v1']);
  await git(['tag', '-a', 'v1-annotated', '-m', 'release one']);
  await git(['checkout', '--quiet', '-b', 'feature']);
  await writeFile(join(dir, 'version.txt'), 'feature\n');
  await git(['commit', '--quiet', '-am', 'feature']);
  const feature = await git(['rev-parse', 'HEAD']);
  await git(['checkout', '--quiet', 'main']);
  await writeFile(join(dir, 'version.txt'), 'two\n');
  await git(['commit', '--quiet', '-am', 'two']);
  const second = await git(['rev-parse', 'HEAD']);
  return { dir, commits: { first, second, feature } };
}

async function gitSourceError(options: GitSourceOptions): Promise<GitSourceError> {
  try {
    const checkout = await cloneGitSource(options);
    await checkout.cleanup();
  } catch (error) {
    if (error instanceof GitSourceError) return error;
    throw error;
  }
  assert.fail('expected the checkout to fail');
}

async function assertFails(options: GitSourceOptions, code: GitSourceErrorCode, message: RegExp): Promise<GitSourceError> {
  const error = await gitSourceError(options);
  assert.equal(error.code, code, error.message);
  assert.match(error.message, message);
  return error;
}

/** Every file under `dir`, recursively, as text (for looking for a secret anywhere in a clone). */
async function allFileContents(dir: string): Promise<string> {
  const parts: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) parts.push(await readFile(join(entry.parentPath, entry.name), 'latin1'));
  }
  return parts.join('\n');
}

describe('git source: local repositories', () => {
  let source: SourceRepository;
  before(async () => {
    source = await makeSourceRepository();
  });

  const cases: Array<[string, (s: SourceRepository) => string | null, (s: SourceRepository) => string, string]> = [
    ['the default branch', () => null, (s) => s.commits.second, 'two\n'],
    ['a branch', () => 'feature', (s) => s.commits.feature, 'feature\n'],
    ['a lightweight tag', () => 'v1', (s) => s.commits.first, 'one\n'],
    ['an annotated tag (peeled to its commit)', () => 'v1-annotated', (s) => s.commits.first, 'one\n'],
    ['a full commit id', (s) => s.commits.feature, (s) => s.commits.feature, 'feature\n'],
    ['an abbreviated commit id', (s) => s.commits.first.slice(0, 10), (s) => s.commits.first, 'one\n'],
  ];
  for (const [name, revisionOf, commitOf, content] of cases) {
    it(`checks out ${name}`, async () => {
      const checkout = await cloneGitSource({ url: source.dir, revision: revisionOf(source), parentDir: await tempDir() });
      try {
        assert.equal(checkout.commit, commitOf(source));
        assert.equal(await readFile(join(checkout.dir, 'version.txt'), 'utf8'), content);
        assert.equal(await gitAs(checkout.dir)(['rev-parse', 'HEAD']), commitOf(source));
        assert.equal(checkout.repository, source.dir);
        assert.equal(checkout.revision, revisionOf(source));
      } finally {
        await checkout.cleanup();
      }
    });
  }

  it('fetches a named revision shallow, and takes file:// URLs', async () => {
    const checkout = await cloneGitSource({ url: `file://${source.dir}`, revision: 'main', parentDir: await tempDir() });
    try {
      assert.equal(await gitAs(checkout.dir)(['rev-list', '--count', 'HEAD']), '1');
      assert.equal(await gitAs(checkout.dir)(['rev-parse', '--is-shallow-repository']), 'true');
      assert.equal(await gitAs(checkout.dir)(['remote', 'get-url', 'origin']), `file://${source.dir}`);
    } finally {
      await checkout.cleanup();
    }
  });

  it('cleanup removes the checkout and may be called twice', async () => {
    const parentDir = await tempDir();
    const checkout = await cloneGitSource({ url: source.dir, parentDir });
    assert.deepEqual(await readdir(parentDir), [checkout.dir.slice(parentDir.length + 1)]);
    await checkout.cleanup();
    await checkout.cleanup();
    assert.deepEqual(await readdir(parentDir), []);
  });

  it('says which revision of which repository is unknown, and leaves nothing behind', async () => {
    const parentDir = await tempDir();
    for (const revision of ['no-such-branch', 'deadbeef', 'f'.repeat(40)]) {
      const error = await assertFails({ url: source.dir, revision, parentDir }, 'revision-unknown', new RegExp(`revision "${revision}" of ${source.dir}: no branch, tag or commit of that name`));
      assert.equal(error.revision, revision);
      assert.equal(error.repository, source.dir);
    }
    assert.deepEqual(await readdir(parentDir), []);
  });

  it('says when the repository does not exist', async () => {
    const missing = join(await tempDir(), 'missing');
    await assertFails({ url: missing }, 'not-found', new RegExp(`default branch of ${missing}: repository not found`));
    await assertFails({ url: `file://${missing}`, revision: 'main' }, 'not-found', /repository not found/);
  });

  it('refuses transports other than https, http and file, and URLs with credentials in them', async () => {
    for (const url of ['git@github.com:org/repo.git', 'ssh://git@github.com/org/repo', 'ext::sh -c touch% /tmp/pwned', 'ftp://example.org/repo', '']) {
      await assertFails({ url }, 'invalid-url', /only https|empty/);
    }
    const error = await assertFails({ url: 'https://user:hunter2@github.com/org/repo' }, 'invalid-url', /credentials must not be part of the URL/);
    assert.doesNotMatch(error.message, /hunter2/);
    await assertFails({ url: 'http://example.org/org/repo', token: 'tok' }, 'invalid-url', /only sent over https/);
  });

  it('refuses revisions git could read as options, refspecs or expressions', async () => {
    for (const revision of ['--upload-pack=touch /tmp/pwned', '-b', 'main:refs/heads/evil', '+main', 'a..b', 'HEAD@{1}', 'main^', 'has space', 'ends/', 'x.lock', '']) {
      await assertFails({ url: source.dir, revision }, 'invalid-revision', /not a valid branch, tag or commit name/);
    }
  });

  it('stops a git that takes too long, or when cancelled', async () => {
    const hanging = createServer(() => undefined); // accepts and never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/repo.git`;
    try {
      await assertFails({ url, timeoutMs: 500 }, 'timeout', /took too long/);
      const controller = new AbortController();
      const pending = gitSourceError({ url, signal: controller.signal });
      setImmediate(() => controller.abort());
      const error = await pending;
      assert.equal(error.code, 'timeout');
      assert.match(error.message, /cancelled/);
    } finally {
      hanging.closeAllConnections();
      await new Promise<void>((resolve) => hanging.close(() => resolve()));
    }
  });
});

describe('git source: private repositories over https-style auth, without leaking the token', () => {
  const token = 'ghp_BerthTestSecretToken0123456789abcdef';
  let server: GitHttpServer;
  let source: SourceRepository;
  let repositoryUrl: string;

  before(async () => {
    source = await makeSourceRepository();
    const projectRoot = await tempDir('berth-git-http-');
    await run('git', ['clone', '--quiet', '--bare', source.dir, join(projectRoot, 'private.git')]);
    server = new GitHttpServer({ projectRoot, token });
    await server.start();
    repositoryUrl = `${server.baseUrl}/private.git`;
  });
  after(async () => {
    await server.stop();
  });

  it('clones with the token, which ends up nowhere: not in .git, the config, the remote URL, argv or the temp dir', async () => {
    const parentDir = await tempDir();
    const wrapperDir = await tempDir();
    const argvLog = join(wrapperDir, 'argv.log');
    const wrapper = join(wrapperDir, 'git-wrapper.sh');
    await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${argvLog}'\nexec git "$@"\n`);
    await chmod(wrapper, 0o755);

    const checkout = await cloneGitSource({ url: repositoryUrl, revision: 'feature', token, parentDir, gitBinary: wrapper });
    try {
      assert.equal(checkout.commit, source.commits.feature);
      assert.equal(await readFile(join(checkout.dir, 'version.txt'), 'utf8'), 'feature\n');
      assert.ok(server.requests.some((r) => r.authorization !== null), 'the server saw credentials');
      assert.ok(server.requests.every((r) => !r.url.includes(token)));

      const git = gitAs(checkout.dir);
      assert.equal(await git(['remote', 'get-url', 'origin']), repositoryUrl);
      assert.doesNotMatch(await git(['config', '--list', '--show-origin']), new RegExp(token));
      assert.doesNotMatch(await readFile(join(checkout.dir, '.git', 'config'), 'utf8'), new RegExp(token));
      assert.equal((await allFileContents(checkout.dir)).includes(token), false, 'the token is in a file of the clone');
      const argv = await readFile(argvLog, 'utf8');
      assert.match(argv, /fetch/);
      assert.equal(argv.includes(token), false, 'the token was on a command line');
      assert.deepEqual(await readdir(parentDir), [checkout.dir.slice(parentDir.length + 1)], 'the askpass helper was not removed');
    } finally {
      await checkout.cleanup();
    }
  });

  it('a wrong token fails as an authentication failure whose message does not hold the token', async () => {
    const wrong = 'ghp_WrongTokenThatMustNotLeak9876543210';
    const parentDir = await tempDir();
    const error = await assertFails({ url: repositoryUrl, revision: 'main', token: wrong, parentDir }, 'auth-failed', new RegExp(`revision "main" of ${repositoryUrl}: authentication failed`));
    assert.equal(error.message.includes(wrong), false);
    assert.equal(String(error.stack).includes(wrong), false);
    assert.deepEqual(await readdir(parentDir), []);
  });

  it('no token for a private repository is an authentication failure, not a prompt', async () => {
    await assertFails({ url: repositoryUrl }, 'auth-failed', /authentication failed/);
  });

  it('with the right token, a repository the server does not have is not found', async () => {
    await assertFails({ url: `${server.baseUrl}/absent.git`, token }, 'not-found', /absent\.git: repository not found/);
  });

  it('a credential helper configured for the user cannot store the token', async () => {
    const home = await tempDir('berth-git-home-');
    await writeFile(join(home, '.gitconfig'), `[credential]\n\thelper = store --file ${join(home, 'stored-credentials')}\n`);
    await mkdir(join(home, '.config'), { recursive: true });
    const savedHome = process.env.HOME;
    process.env.HOME = home;
    try {
      const checkout = await cloneGitSource({ url: repositoryUrl, token, parentDir: await tempDir() });
      await checkout.cleanup();
    } finally {
      process.env.HOME = savedHome;
    }
    assert.deepEqual((await readdir(home)).sort(), ['.config', '.gitconfig']);
  });
});
