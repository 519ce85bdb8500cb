import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StudioCheckResult } from '../../src/builder/studio-config/studio-source.ts';
import { run } from '../support/processes.ts';
import { brokenConfig, dockerfileStudio, makeStudioRepository } from '../support/studio-repository.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;

/** Runs the CLI with no Berth server to talk to: the check is local. */
const berthCli = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, [cli, 'studio-config', 'check', ...args], {
    env: { ...process.env, BERTH_URL: 'http://127.0.0.1:9', ...env },
    allowFailure: true,
  });

describe('berth studio-config check (local, without a server)', () => {
  let scratch: string;
  let good: { dir: string; commit: string };
  let broken: { dir: string; commit: string };
  let badConda: { dir: string; commit: string };

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'berth-cli-studio-'));
    good = await makeStudioRepository(dockerfileStudio, scratch);
    broken = await makeStudioRepository({ ...dockerfileStudio, '.seqera/studio-config.yaml': brokenConfig }, scratch);
    badConda = await makeStudioRepository(
      {
        '.seqera/studio-config.yaml': 'session:\n  template:\n    kind: none\n  dependencies:\n    condaEnvironmentFile: env.yaml\n',
        '.seqera/env.yaml': 'channels:\n  - conda-forge\ndependencies:\n  - "numpy>>1"\n',
      },
      scratch,
    );
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('prints a ✓ line per passed check and the plan for a valid directory, exit 0', async () => {
    const result = await berthCli([good.dir]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^✓ using the directory .* as it is$/m);
    assert.match(result.stdout, /^✓ \.seqera\/studio-config\.yaml is valid \(session\.template\.kind: dockerfile\)$/m);
    assert.match(result.stdout, /^✓ build context \.seqera\/: 5 files, \d+ bytes, within the limits \(\.seqera\/\.dockerignore honoured\)$/m);
    assert.match(result.stdout, /^plan: +build \.seqera\/Dockerfile with the context \.seqera\/ \(5 files, \d+ bytes, sha256:[0-9a-f]{64}\)$/m);
    assert.match(result.stdout, /^compute: +4 CPU, 0 GPU, 16384 MiB$/m);
    assert.doesNotMatch(result.stdout, /✗/);
  });

  it('clones a file:// URL at a revision and prints the result as JSON', async () => {
    const result = await berthCli([`file://${good.dir}`, '--revision', 'main', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const parsed = JSON.parse(result.stdout) as StudioCheckResult;
    assert.ok(parsed.ok);
    assert.equal(parsed.source?.commit, good.commit);
    assert.equal(parsed.plan.context?.files, 5);
  });

  it('prints ✗ lines naming the file and line of each problem, exit 1', async () => {
    const result = await berthCli([`file://${broken.dir}`]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^✓ cloned file:\/\/.* at [0-9a-f]{40}$/m);
    assert.match(result.stdout, /^✗ \.seqera\/studio-config\.yaml line 7: unknown key "clonez" in session/m);
    assert.match(result.stdout, /^✗ \.seqera\/studio-config\.yaml line 9: session\.management\.lifespanHours must be between 1 and 120 \(got 500\)$/m);
    assert.doesNotMatch(result.stdout, /^plan:/m);

    const json = await berthCli([broken.dir, '--json']);
    assert.equal(json.code, 1);
    const parsed = JSON.parse(json.stdout) as StudioCheckResult;
    assert.ok(!parsed.ok);
    assert.deepEqual(parsed.problems.map((p) => p.line), [7, 9]);
  });

  it('names the lines of a bad conda environment file', async () => {
    const result = await berthCli([badConda.dir]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^✓ \.seqera\/studio-config\.yaml is valid$/m);
    assert.match(result.stdout, /^✗ \.seqera\/env\.yaml line 4: .*"numpy>>1"/m);
  });

  it('shows warnings with !', async () => {
    const warned = await makeStudioRepository(
      { ...dockerfileStudio, '.seqera/studio-config.yaml': `${dockerfileStudio['.seqera/studio-config.yaml']}  dependencies:\n    condaEnvironmentFile: env.yaml\n` },
      scratch,
    );
    const result = await berthCli([warned.dir]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /^! \.seqera\/studio-config\.yaml line 13: session\.dependencies\.condaEnvironmentFile is ignored because session\.template\.kind is dockerfile$/m);
  });

  it('exits 2 on usage errors: an unknown option, a missing path, an unset token variable', async () => {
    const unknownOption = await berthCli([good.dir, '--no-such-option']);
    assert.equal(unknownOption.code, 2);
    assert.match(unknownOption.stderr, /unknown option '--no-such-option'/);
    const missing = await berthCli([join(scratch, 'absent')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /is neither a URL nor an existing directory/);
    const unsetToken = await berthCli([`file://${good.dir}`, '--token-env', 'BERTH_TEST_UNSET_TOKEN']);
    assert.equal(unsetToken.code, 2);
    assert.match(unsetToken.stderr, /the environment variable BERTH_TEST_UNSET_TOKEN is not set/);
    const noArgument = await berthCli([]);
    assert.equal(noArgument.code, 2);
    assert.match(noArgument.stderr, /missing required argument/);
  });
});
