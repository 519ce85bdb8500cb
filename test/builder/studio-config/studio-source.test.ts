import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { contextDigest } from '../../../src/builder/builds/container-request.ts';
import { planStudioBuild } from '../../../src/builder/studio-config/build-plan.ts';
import {
  checkStudioConfigText,
  contextFilesOf,
  inspectStudioSource,
  StudioSourceError,
  withStudioPlan,
  type StudioCheckResult,
} from '../../../src/builder/studio-config/studio-source.ts';
import { brokenConfig, commitTree, dockerfileStudio, makeStudioRepository, writeTree, type TreeSpec } from '../../support/studio-repository.ts';

const scratch: string[] = [];
after(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-studio-source-'));
  scratch.push(dir);
  return dir;
}

function passed(result: StudioCheckResult): Extract<StudioCheckResult, { ok: true }> {
  assert.ok(result.ok, `expected a valid studio, got ${JSON.stringify(result, null, 2)}`);
  return result;
}
function failed(result: StudioCheckResult): Extract<StudioCheckResult, { ok: false }> {
  assert.ok(!result.ok, `expected problems, got ${JSON.stringify(result, null, 2)}`);
  return result;
}

const registryWithConda = (environment: string): TreeSpec => ({
  '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: registry\n    registry: "cr.seqera.io/public/data-studio:1.0"\n  dependencies:\n    condaEnvironmentFile: environment.yml\n',
  '.seqera/environment.yml': environment,
});

describe('studio sources: checking a repository by directory and by git URL', () => {
  let repo: { dir: string; commit: string };
  before(async () => {
    repo = await makeStudioRepository(dockerfileStudio, await tempDir());
  });

  it('checks a directory as it is and summarises the plan', async () => {
    const result = passed(await inspectStudioSource({ dir: repo.dir }));
    const plan = await planStudioBuild(repo.dir);
    assert.equal(plan.kind, 'dockerfile');
    assert.deepEqual(result.source, { repository: repo.dir, revision: null, commit: null });
    assert.equal(result.plan.kind, 'dockerfile');
    assert.equal(result.plan.dockerfile, '.seqera/Dockerfile');
    assert.deepEqual(result.plan.context, { files: 5, bytes: plan.contextBytes, digest: plan.contextDigest, ignoreFile: '.seqera/.dockerignore' });
    assert.equal(result.plan.session.name, 'rnaseq-lab');
    assert.deepEqual(result.plan.session.computeRequirements.awsBatch, { cpu: 4, gpu: 0, memoryMiB: 16384 });
    assert.deepEqual(result.plan.session.environmentVariables, [{ name: 'PROJECT', value: 'rnaseq' }]);
    assert.deepEqual(result.warnings, []);
    assert.match(result.checks.join('\n'), /studio-config\.yaml is valid \(session\.template\.kind: dockerfile\)/);
    assert.match(result.checks.join('\n'), /build context \.seqera\/: 5 files, \d+ bytes, within the limits \(\.seqera\/\.dockerignore honoured\)/);
  });

  it('clones a file:// URL at a revision, reports the commit, and removes the checkout', async () => {
    const parentDir = await tempDir();
    const result = passed(await inspectStudioSource({ url: `file://${repo.dir}`, revision: 'main', parentDir }));
    assert.deepEqual(result.source, { repository: `file://${repo.dir}`, revision: 'main', commit: repo.commit });
    assert.match(result.checks[0]!, new RegExp(`^cloned file://${repo.dir} at ${repo.commit} \\(main\\)$`));
    assert.deepEqual(await readdir(parentDir), []);
  });

  it('checks the revision asked for: a local repository path at a branch or an abbreviated commit', async () => {
    const changing = await makeStudioRepository(dockerfileStudio, await tempDir());
    await commitTree(changing.dir, { '.seqera/studio-config.yaml': brokenConfig }, 'break it');
    failed(await inspectStudioSource({ url: changing.dir, revision: 'main' }));
    const atGood = passed(await inspectStudioSource({ url: changing.dir, revision: changing.commit.slice(0, 12) }));
    assert.equal(atGood.source?.commit, changing.commit);
  });

  it('names the lines of a broken config, and removes the checkout', async () => {
    const broken = await makeStudioRepository({ ...dockerfileStudio, '.seqera/studio-config.yaml': brokenConfig }, await tempDir());
    const parentDir = await tempDir();
    const result = failed(await inspectStudioSource({ url: `file://${broken.dir}`, parentDir }));
    assert.deepEqual(
      result.problems.map((p) => [p.file, p.line]),
      [
        ['.seqera/studio-config.yaml', 7],
        ['.seqera/studio-config.yaml', 9],
      ],
    );
    assert.match(result.problems[0]!.message, /unknown key "clonez" in session.*did you mean "clone"/);
    assert.match(result.problems[1]!.message, /lifespanHours must be between 1 and 120 \(got 500\)/);
    assert.equal(result.source?.commit, broken.commit, 'the commit is known even when the check fails');
    assert.deepEqual(await readdir(parentDir), []);
  });

  it('validates the conda environment file of a registry template and names its lines', async () => {
    const bad = await makeStudioRepository(
      registryWithConda('name: lab\nchannels:\n  - conda-forge\ndependencies:\n  - numpy>=1.2\n  - "bad spec!!"\nextra: 1\n'),
      await tempDir(),
    );
    const result = failed(await inspectStudioSource({ dir: bad.dir }));
    assert.deepEqual(result.problems.map((p) => [p.file, p.line]), [
      ['.seqera/environment.yml', 6],
      ['.seqera/environment.yml', 7],
    ]);
    assert.match(result.problems[0]!.message, /"bad spec!!" is not a valid conda match spec/);
    assert.match(result.checks.join('\n'), /studio-config\.yaml is valid/);

    const good = await makeStudioRepository(registryWithConda('channels: [conda-forge]\ndependencies:\n  - numpy>=1.2\n  - pip:\n    - requests\n'), await tempDir());
    const ok = passed(await inspectStudioSource({ dir: good.dir }));
    assert.equal(ok.plan.image, 'cr.seqera.io/public/data-studio:1.0');
    assert.equal(ok.plan.condaEnvironmentFile, '.seqera/environment.yml');
    assert.deepEqual(ok.plan.condaEnvironment, { channels: ['conda-forge'], dependencies: ['numpy>=1.2'], pip: ['requests'] });
    assert.match(ok.checks.join('\n'), /environment\.yml is a valid conda environment \(1 package, 1 pip requirement, 1 channel\)/);
  });

  it('names a missing Dockerfile and the line of a bad .dockerignore pattern', async () => {
    const missing = await makeStudioRepository({ '.seqera/studio-config.yaml': dockerfileStudio['.seqera/studio-config.yaml']! }, await tempDir());
    const noDockerfile = failed(await inspectStudioSource({ dir: missing.dir }));
    assert.equal(noDockerfile.problems[0]!.file, '.seqera/Dockerfile');
    assert.match(noDockerfile.problems[0]!.message, /the Dockerfile \.seqera\/Dockerfile does not exist/);

    const badIgnore = await makeStudioRepository({ ...dockerfileStudio, '.seqera/.dockerignore': '# fine\nscratch\n[unclosed\n' }, await tempDir());
    const result = failed(await inspectStudioSource({ dir: badIgnore.dir }));
    assert.deepEqual(result.problems.map((p) => [p.file, p.line]), [['.seqera/.dockerignore', 3]]);
  });

  it('reports what git says when the repository or revision is missing', async () => {
    const result = failed(await inspectStudioSource({ url: `file://${repo.dir}`, revision: 'no-such-branch' }));
    assert.deepEqual(result.problems.map((p) => [p.file, p.line]), [[null, null]]);
    assert.match(result.problems[0]!.message, /revision "no-such-branch" of .*no branch, tag or commit of that name/);
    assert.equal(result.source, null);
  });

  it('checks the text of a config alone', () => {
    const ok = passed(checkStudioConfigText(dockerfileStudio['.seqera/studio-config.yaml'] as string));
    assert.equal(ok.plan.dockerfile, '.seqera/Dockerfile');
    assert.equal(ok.plan.context, null);
    const bad = failed(checkStudioConfigText(brokenConfig));
    assert.deepEqual(bad.problems.map((p) => p.line), [7, 9]);
  });
});

describe('studio sources: context files for the build service', () => {
  it('reads the included files, materialises a symlink to a file, and keeps modes', async () => {
    const repo = await makeStudioRepository({ ...dockerfileStudio, '.seqera/app/current.txt': { symlink: 'data.txt' } }, await tempDir());
    const parentDir = await tempDir();
    const files = await withStudioPlan({ url: `file://${repo.dir}`, parentDir }, async (plan) => {
      assert.equal(plan.kind, 'dockerfile');
      return plan.kind === 'dockerfile' ? contextFilesOf(plan) : [];
    });
    assert.deepEqual(await readdir(parentDir), [], 'the checkout is gone after use');
    assert.deepEqual(
      files.map((f) => [f.path, f.content.toString(), f.mode.toString(8)]),
      [
        ['.dockerignore', '# not part of the image\nscratch\n', '644'],
        ['Dockerfile', 'FROM scratch\nCOPY app /app\n', '644'],
        ['app/current.txt', 'data\n', '644'],
        ['app/data.txt', 'data\n', '644'],
        ['app/run.sh', '#!/bin/sh\necho run\n', '755'],
        ['studio-config.yaml', dockerfileStudio['.seqera/studio-config.yaml'], '644'],
      ],
    );
    assert.match(contextDigest(files), /^sha256:[0-9a-f]{64}$/);
  });

  it('refuses a symlink to a directory, naming it', async () => {
    const dir = await tempDir();
    await writeTree(dir, { ...dockerfileStudio, '.seqera/linked': { symlink: 'app' } });
    const error = await withStudioPlan({ dir }, async (plan) => (plan.kind === 'dockerfile' ? contextFilesOf(plan) : [])).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof StudioSourceError);
    assert.equal(error.problems[0]!.file, '.seqera/linked');
    assert.match(error.problems[0]!.message, /is a symlink to app, and the build service takes regular files only: it points to a directory/);
  });

  it('notices a file that changed after planning', async () => {
    const dir = await tempDir();
    await writeTree(dir, dockerfileStudio);
    const error = await withStudioPlan({ dir }, async (plan) => {
      await writeFile(join(dir, '.seqera/app/data.txt'), 'changed\n');
      return plan.kind === 'dockerfile' ? contextFilesOf(plan) : [];
    }).then(
      () => assert.fail('expected a refusal'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof StudioSourceError);
    assert.match(error.message, /\.seqera\/app\/data\.txt changed after the build was planned/);
  });

  it('removes the checkout when the use of the plan fails', async () => {
    const repo = await makeStudioRepository(dockerfileStudio, await tempDir());
    const parentDir = await tempDir();
    await assert.rejects(withStudioPlan({ url: repo.dir, parentDir }, async () => Promise.reject(new Error('boom'))), /boom/);
    assert.deepEqual(await readdir(parentDir), []);
  });
});
