import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, realpath, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cloneGitSource } from '../../../src/builder/git/git-source.ts';
import { BuildPlanError, contextDigestOf, planStudioBuild, type BuildPlan, type BuildPlanErrorCode } from '../../../src/builder/studio-config/build-plan.ts';
import { StudioConfigError } from '../../../src/builder/studio-config/studio-config.ts';
import { run } from '../../support/processes.ts';

type TreeSpec = Record<string, string | Buffer | { content: string | Buffer; mode: number } | { symlink: string }>;

const scratch: string[] = [];
after(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-plan-'));
  scratch.push(dir);
  return dir;
}

/** Writes files, modes and symlinks under `root`, in the order given. */
async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [path, value] of Object.entries(spec)) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    if (typeof value === 'object' && 'symlink' in value) await symlink(value.symlink, target);
    else if (typeof value === 'object' && 'mode' in value) {
      await writeFile(target, value.content);
      await chmod(target, value.mode);
    } else await writeFile(target, value);
  }
}

async function repository(spec: TreeSpec): Promise<string> {
  const root = await tempDir();
  await writeTree(root, spec);
  return root;
}

const dockerfileConfig = 'schemaVersion: "0.0.1"\nkind: "studio-config"\nsession:\n  template:\n    kind: "dockerfile"\n    dockerfile: "Dockerfile"\n';
const dockerfileText = 'FROM cr.seqera.io/base:1\nCOPY app /app\n';

const sha256 = (content: string | Buffer): string => `sha256:${createHash('sha256').update(content).digest('hex')}`;

async function planError(repo: string, limits?: Parameters<typeof planStudioBuild>[1]): Promise<BuildPlanError> {
  try {
    await planStudioBuild(repo, limits);
  } catch (error) {
    if (error instanceof BuildPlanError) return error;
    throw error;
  }
  assert.fail('expected the plan to be refused');
}

async function assertRefused(repo: string, code: BuildPlanErrorCode, path: string | null, message: RegExp, limits?: Parameters<typeof planStudioBuild>[1]): Promise<void> {
  const error = await planError(repo, limits);
  assert.equal(error.code, code, error.message);
  assert.equal(error.path, path);
  assert.match(error.message, message);
}

function dockerfilePlan(plan: BuildPlan): Extract<BuildPlan, { kind: 'dockerfile' }> {
  assert.equal(plan.kind, 'dockerfile');
  return plan as Extract<BuildPlan, { kind: 'dockerfile' }>;
}

describe('build plan: Dockerfile templates', () => {
  it('takes .seqera/ as the context, honours .dockerignore and fingerprints what is left', async () => {
    const ignoreText = '# keep the config out of the image\nstudio-config.yaml\n*.log\ndata/\n!data/keep.csv\n';
    const script = '#!/bin/sh\necho run\n';
    const repo = await repository({
      'README.md': 'outside the context\n',
      '.seqera/studio-config.yaml': dockerfileConfig,
      '.seqera/Dockerfile': dockerfileText,
      '.seqera/.dockerignore': ignoreText,
      '.seqera/app/main.py': 'print("hi")\n',
      '.seqera/run.sh': { content: script, mode: 0o755 },
      '.seqera/debug.log': 'noise\n',
      '.seqera/data/big.csv': 'a,b\n1,2\n',
      '.seqera/data/keep.csv': 'k\n',
    });
    const plan = dockerfilePlan(await planStudioBuild(repo));
    assert.equal(plan.contextDir, await realpath(join(repo, '.seqera')));
    assert.equal(plan.dockerfilePath, 'Dockerfile');
    assert.equal(plan.dockerfile, dockerfileText);
    assert.equal(plan.ignoreFile, '.dockerignore');
    assert.deepEqual(
      plan.files.map((f) => [f.path, f.type, f.size, f.mode]),
      [
        ['.dockerignore', 'file', ignoreText.length, 0o644],
        ['Dockerfile', 'file', dockerfileText.length, 0o644],
        ['app/main.py', 'file', 12, 0o644],
        ['data/keep.csv', 'file', 2, 0o644],
        ['run.sh', 'file', script.length, 0o755],
      ],
    );
    assert.equal(plan.files.find((f) => f.path === 'app/main.py')!.digest, sha256('print("hi")\n'));
    assert.equal(plan.contextBytes, ignoreText.length + dockerfileText.length + 12 + 2 + script.length);
    assert.match(plan.contextDigest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(plan.contextDigest, contextDigestOf(plan.files));
    assert.equal(plan.config.session.template.kind, 'dockerfile');
  });

  it('prefers <Dockerfile>.dockerignore beside the Dockerfile over .dockerignore, as Docker does', async () => {
    const repo = await repository({
      '.seqera/studio-config.yaml': dockerfileConfig.replace('"Dockerfile"', '"docker/Dockerfile"'),
      '.seqera/docker/Dockerfile': dockerfileText,
      '.seqera/docker/Dockerfile.dockerignore': 'notes.txt\n',
      '.seqera/.dockerignore': 'app\n',
      '.seqera/notes.txt': 'x\n',
      '.seqera/app/main.py': 'y\n',
    });
    const plan = dockerfilePlan(await planStudioBuild(repo));
    assert.equal(plan.ignoreFile, 'docker/Dockerfile.dockerignore');
    assert.deepEqual(
      plan.files.map((f) => f.path),
      ['.dockerignore', 'app/main.py', 'docker/Dockerfile', 'docker/Dockerfile.dockerignore', 'studio-config.yaml'],
    );
  });

  it('keeps a symlink that stays inside the context as a link', async () => {
    const repo = await repository({
      '.seqera/studio-config.yaml': dockerfileConfig,
      '.seqera/Dockerfile': dockerfileText,
      '.seqera/app/main.py': 'x\n',
      '.seqera/current': { symlink: 'app/main.py' },
      '.seqera/app/self': { symlink: '../app' },
    });
    const plan = dockerfilePlan(await planStudioBuild(repo));
    const links = plan.files.filter((f) => f.type === 'symlink').map((f) => [f.path, f.target, f.size]);
    assert.deepEqual(links, [
      ['app/self', '../app', 0],
      ['current', 'app/main.py', 0],
    ]);
  });

  it('ignores a conda file for a Dockerfile template and says so', async () => {
    const repo = await repository({
      '.seqera/studio-config.yaml': `${dockerfileConfig}  dependencies:\n    condaEnvironmentFile: "missing.yaml"\n`,
      '.seqera/Dockerfile': dockerfileText,
    });
    const plan = await planStudioBuild(repo);
    assert.equal(plan.kind, 'dockerfile');
    assert.match(plan.warnings[0]!.message, /condaEnvironmentFile is ignored/);
  });
});

describe('build plan: registry and none templates', () => {
  it('a registry template names its image and reads the conda file', async () => {
    const environment = 'channels: [conda-forge]\ndependencies:\n  - numpy\n';
    const repo = await repository({
      '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: registry\n    registry: cr.seqera.io/jupyter:4.2.5\n  dependencies:\n    condaEnvironmentFile: env/environment.yaml\n',
      '.seqera/env/environment.yaml': environment,
    });
    const plan = await planStudioBuild(repo);
    assert.equal(plan.kind, 'registry');
    assert.equal(plan.kind === 'registry' && plan.image, 'cr.seqera.io/jupyter:4.2.5');
    assert.deepEqual(plan.kind === 'registry' && plan.condaEnvironment, { path: 'env/environment.yaml', text: environment });
  });

  it('a none template carries only the conda file, or nothing', async () => {
    const withConda = await repository({
      '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: none\n  dependencies:\n    condaEnvironmentFile: environment.yaml\n',
      '.seqera/environment.yaml': 'dependencies: [scipy]\n',
    });
    const plan = await planStudioBuild(withConda);
    assert.equal(plan.kind, 'none');
    assert.deepEqual(plan.kind === 'none' && plan.condaEnvironment, { path: 'environment.yaml', text: 'dependencies: [scipy]\n' });

    const bare = await repository({ '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: none\n' });
    const barePlan = await planStudioBuild(bare);
    assert.equal(barePlan.kind === 'none' && barePlan.condaEnvironment, null);
  });
});

describe('build plan: missing and invalid files', () => {
  it('names what is missing', async () => {
    await assertRefused(await repository({ 'README.md': 'x' }), 'config-not-found', '.seqera/studio-config.yaml', /has no \.seqera\/studio-config\.yaml/);
    await assertRefused(await repository({ '.seqera/studio-config.yml': 'x' }), 'config-not-found', '.seqera/studio-config.yaml', /found studio-config\.yml/);
    await assertRefused(
      await repository({ '.seqera/studio-config.yaml': dockerfileConfig.replace('"Dockerfile"', '".seqera/Dockerfile"'), '.seqera/Dockerfile': dockerfileText }),
      'file-not-found',
      '.seqera/.seqera/Dockerfile',
      /the Dockerfile \.seqera\/\.seqera\/Dockerfile does not exist \(paths in studio-config\.yaml are relative to \.seqera\/\)/,
    );
    await assertRefused(
      await repository({ '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: none\n  dependencies:\n    condaEnvironmentFile: env.yaml\n' }),
      'file-not-found',
      '.seqera/env.yaml',
      /conda environment file/,
    );
    await assertRefused(join(await tempDir(), 'nope'), 'repository-not-found', null, /does not exist/);
  });

  it('refuses a Dockerfile that is a directory or empty', async () => {
    await assertRefused(await repository({ '.seqera/studio-config.yaml': dockerfileConfig, '.seqera/Dockerfile/x': 'x' }), 'not-a-file', '.seqera/Dockerfile', /not a regular file/);
    await assertRefused(await repository({ '.seqera/studio-config.yaml': dockerfileConfig, '.seqera/Dockerfile': '\n  \n' }), 'empty-dockerfile', '.seqera/Dockerfile', /is empty/);
  });

  it('passes config problems through as StudioConfigError with their lines', async () => {
    const repo = await repository({ '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: podman\n' });
    await assert.rejects(planStudioBuild(repo), (error: unknown) => error instanceof StudioConfigError && error.problems[0]!.line === 3);
  });

  it('names the ignore file and line of a pattern Docker would refuse', async () => {
    const repo = await repository({ '.seqera/studio-config.yaml': dockerfileConfig, '.seqera/Dockerfile': dockerfileText, '.seqera/.dockerignore': '*.log\n[oops\n' });
    await assertRefused(repo, 'invalid-dockerignore', '.seqera/.dockerignore', /^\.seqera\/\.dockerignore: line 2: .*missing "\]"/);
  });
});

describe('build plan: size limits', () => {
  const dockerRepo = (extra: TreeSpec): Promise<string> => repository({ '.seqera/studio-config.yaml': dockerfileConfig, '.seqera/Dockerfile': dockerfileText, ...extra });

  it('refuses a context file over 5 MiB by default, naming it', async () => {
    const repo = await dockerRepo({ '.seqera/data/huge.bin': Buffer.alloc(5 * 1024 * 1024 + 1) });
    await assertRefused(repo, 'file-too-large', '.seqera/data/huge.bin', /\.seqera\/data\/huge\.bin is 5 MiB; a build context file may be at most 5 MiB/);
  });

  it('refuses a context over 10 MiB in total by default, naming the file that tips it over', async () => {
    const repo = await dockerRepo({
      '.seqera/a.bin': Buffer.alloc(4 * 1024 * 1024),
      '.seqera/b.bin': Buffer.alloc(4 * 1024 * 1024),
      '.seqera/c.bin': Buffer.alloc(4 * 1024 * 1024),
    });
    await assertRefused(repo, 'context-too-large', '.seqera/c.bin', /exceeds 10 MiB when \.seqera\/c\.bin is added; exclude files with \.dockerignore/);
  });

  it('counts only what .dockerignore keeps', async () => {
    const repo = await dockerRepo({ '.seqera/.dockerignore': 'data\n', '.seqera/data/huge.bin': Buffer.alloc(6 * 1024 * 1024) });
    const plan = dockerfilePlan(await planStudioBuild(repo));
    assert.deepEqual(plan.files.map((f) => f.path), ['.dockerignore', 'Dockerfile', 'studio-config.yaml']);
  });

  it('takes configured limits, allowing a file of exactly the limit', async () => {
    const repo = await dockerRepo({ '.seqera/exact.bin': Buffer.alloc(1000), '.seqera/over.bin': Buffer.alloc(1001) });
    await assertRefused(repo, 'file-too-large', '.seqera/over.bin', /1000 bytes/, { limits: { maxFileBytes: 1000 } });
    await assertRefused(repo, 'context-too-large', '.seqera/exact.bin', /exceeds 1000 bytes when \.seqera\/exact\.bin/, { limits: { maxContextBytes: 1000 } });
    await assertRefused(repo, 'too-many-entries', '.seqera/studio-config.yaml', /more than 3 files/, { limits: { maxContextEntries: 3 } });
  });

  it('refuses a Dockerfile over 10 KiB and a conda file over 50 KiB', async () => {
    const bigDockerfile = await repository({ '.seqera/studio-config.yaml': dockerfileConfig, '.seqera/Dockerfile': `FROM x\n${'#'.repeat(10 * 1024)}\n` });
    await assertRefused(bigDockerfile, 'file-too-large', '.seqera/Dockerfile', /the Dockerfile \.seqera\/Dockerfile is 10 KiB; at most 10 KiB is allowed/);
    const bigConda = await repository({
      '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: none\n  dependencies:\n    condaEnvironmentFile: environment.yaml\n',
      '.seqera/environment.yaml': `dependencies: []\n${'#'.repeat(50 * 1024)}\n`,
    });
    await assertRefused(bigConda, 'file-too-large', '.seqera/environment.yaml', /at most 50 KiB/);
  });
});

describe('build plan: symlinks that leave the context are refused', () => {
  const dockerRepo = (extra: TreeSpec): Promise<string> => repository({ 'secret.txt': 'top secret\n', '.seqera/studio-config.yaml': dockerfileConfig, '.seqera/Dockerfile': dockerfileText, ...extra });

  it('a relative link that climbs out', async () => {
    await assertRefused(await dockerRepo({ '.seqera/app/leak': { symlink: '../../secret.txt' } }), 'symlink-escape', '.seqera/app/leak', /symlink to \.\.\/\.\.\/secret\.txt, which is outside the build context/);
  });

  it('an absolute link, even a dangling one', async () => {
    await assertRefused(await dockerRepo({ '.seqera/passwd': { symlink: '/etc/passwd' } }), 'symlink-escape', '.seqera/passwd', /outside the build context/);
    await assertRefused(await dockerRepo({ '.seqera/nowhere': { symlink: '/no/such/file' } }), 'symlink-escape', '.seqera/nowhere', /outside/);
  });

  it('a chain of links that looks inside but resolves outside', async () => {
    const repo = await dockerRepo({ '.seqera/sub/up': { symlink: '..' }, '.seqera/sneaky': { symlink: 'sub/up/../..' } });
    await assertRefused(repo, 'symlink-escape', '.seqera/sneaky', /outside/);
  });

  it('but not one that .dockerignore leaves out, since it is never sent', async () => {
    const plan = dockerfilePlan(await planStudioBuild(await dockerRepo({ '.seqera/.dockerignore': 'leak\n', '.seqera/leak': { symlink: '../secret.txt' } })));
    assert.equal(plan.files.some((f) => f.path === 'leak'), false);
  });

  it('a Dockerfile, config or .seqera directory that is a link out of bounds', async () => {
    const outside = await tempDir();
    await writeTree(outside, { 'Dockerfile': dockerfileText, 'studio-config.yaml': dockerfileConfig });
    await assertRefused(
      await repository({ 'real.Dockerfile': dockerfileText, '.seqera/studio-config.yaml': dockerfileConfig, '.seqera/Dockerfile': { symlink: '../real.Dockerfile' } }),
      'symlink-escape',
      '.seqera/Dockerfile',
      /the Dockerfile \.seqera\/Dockerfile is a symlink that leads outside \.seqera\//,
    );
    await assertRefused(await repository({ '.seqera/studio-config.yaml': { symlink: join(outside, 'studio-config.yaml') } }), 'symlink-escape', '.seqera/studio-config.yaml', /leads outside/);
    await assertRefused(await repository({ '.seqera': { symlink: outside } }), 'symlink-escape', '.seqera', /leads outside the repository/);
  });
});

describe('build plan: the context digest is deterministic', () => {
  const tree: TreeSpec = {
    '.seqera/studio-config.yaml': dockerfileConfig,
    '.seqera/Dockerfile': dockerfileText,
    '.seqera/.dockerignore': 'scratch\n',
    '.seqera/app/main.py': 'print(1)\n',
    '.seqera/app/lib/util.py': 'X = 1\n',
    '.seqera/bin/start': { content: '#!/bin/sh\n', mode: 0o755 },
    '.seqera/link': { symlink: 'app/main.py' },
    '.seqera/scratch/tmp.txt': 'ignored\n',
  };

  async function digestOf(spec: TreeSpec): Promise<string> {
    return dockerfilePlan(await planStudioBuild(await repository(spec))).contextDigest;
  }

  it('is the same for the same tree, whatever the write order, timestamps and non-execute permission bits', async () => {
    const first = await repository(tree);
    const reversed = Object.fromEntries(Object.entries(tree).reverse()) as TreeSpec;
    const second = await repository(reversed);
    await utimes(join(second, '.seqera/app/main.py'), new Date('2001-01-01'), new Date('2001-01-01'));
    await chmod(join(second, '.seqera/app/lib/util.py'), 0o600);
    await chmod(join(second, '.seqera/bin/start'), 0o700);
    const [a, b] = [dockerfilePlan(await planStudioBuild(first)), dockerfilePlan(await planStudioBuild(second))];
    assert.equal(a.contextDigest, b.contextDigest);
    assert.deepEqual(a.files, b.files);
    assert.equal(dockerfilePlan(await planStudioBuild(first)).contextDigest, a.contextDigest, 'planning twice gives the same digest');
  });

  it('changes with content, execute bit, name or link target, and not with excluded or outside files', async () => {
    const base = await digestOf(tree);
    assert.notEqual(await digestOf({ ...tree, '.seqera/app/main.py': 'print(2)\n' }), base);
    assert.notEqual(await digestOf({ ...tree, '.seqera/app/lib/util.py': { content: 'X = 1\n', mode: 0o755 } }), base);
    const renamed = { ...tree, '.seqera/app/main2.py': tree['.seqera/app/main.py']!, '.seqera/link': { symlink: 'app/main2.py' } };
    delete (renamed as TreeSpec)['.seqera/app/main.py'];
    assert.notEqual(await digestOf(renamed), base);
    assert.notEqual(await digestOf({ ...tree, '.seqera/link': { symlink: 'app/lib/util.py' } }), base);
    assert.equal(await digestOf({ ...tree, '.seqera/scratch/tmp.txt': 'changed\n' }), base);
    assert.equal(await digestOf({ ...tree, 'README.md': 'outside the context\n' }), base);
  });

  it('does not depend on the order entries are listed in', () => {
    const entries = [
      { path: 'b', type: 'file' as const, size: 1, mode: 0o644, digest: sha256('b') },
      { path: 'a', type: 'file' as const, size: 1, mode: 0o644, digest: sha256('a') },
    ];
    assert.equal(contextDigestOf(entries), contextDigestOf([...entries].reverse()));
  });
});

describe('build plan from a real git checkout', () => {
  it('plans the same context from a clone as from the working tree it was committed from', async () => {
    const origin = await repository({
      '.seqera/studio-config.yaml': dockerfileConfig,
      '.seqera/Dockerfile': dockerfileText,
      '.seqera/.dockerignore': 'studio-config.yaml\n',
      '.seqera/app/main.py': 'print("from git")\n',
      '.seqera/start.sh': { content: '#!/bin/sh\n', mode: 0o755 },
      '.seqera/main': { symlink: 'app/main.py' },
    });
    const git = (args: string[]) => run('git', ['-c', 'user.name=Berth Test', '-c', 'user.email=test@berth.invalid', ...args], { cwd: origin });
    await git(['init', '--quiet', '--initial-branch=main']);
    await git(['add', '--all']);
    await git(['commit', '--quiet', '-m', 'studio']);
    const checkout = await cloneGitSource({ url: origin, revision: 'main', parentDir: await tempDir() });
    try {
      const fromClone = dockerfilePlan(await planStudioBuild(checkout.dir));
      const fromOrigin = dockerfilePlan(await planStudioBuild(origin));
      assert.deepEqual(fromClone.files, fromOrigin.files);
      assert.equal(fromClone.contextDigest, fromOrigin.contextDigest);
      assert.deepEqual(fromClone.files.map((f) => f.path), ['.dockerignore', 'Dockerfile', 'app/main.py', 'main', 'start.sh']);
    } finally {
      await checkout.cleanup();
    }
  });
});
