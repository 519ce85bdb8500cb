import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { ociReference, writeOciLayout } from '../support/oci-image.ts';
import { run } from '../support/processes.ts';
import { berthCliJson, runBerthCli } from '../support/berth-cli.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;

describe('berth registry … (the CLI over the ECR operations)', () => {
  let berth: TestBerth;
  let scratch: string;
  const berthCli = (args: string[], input?: string) => runBerthCli(berth, args, { input });
  const json = <T>(args: string[]) => berthCliJson<T>(berth, args);

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('cli');
    const layout = await writeOciLayout({ dir: join(scratch, 'image'), layers: 1, layerBytes: 512 });
    for (const tag of ['v1', 'v2']) {
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(layout), `docker://${berth.host}/admin/tools/cli:${tag}`]);
    }
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('lists repositories and images as tables and as JSON', async () => {
    const table = await berthCli(['registry', 'repos', 'list']);
    assert.match(table.stdout, /^NAME\s+URI/m);
    assert.match(table.stdout, new RegExp(`tools/cli\\s+${berth.host}/admin/tools/cli`));
    const images = await json<Array<{ imageTags: string[] }>>(['registry', 'images', 'list', 'tools/cli']);
    assert.deepEqual(images.map((i) => i.imageTags.sort()), [['v1', 'v2']]);
  });

  it('creates an immutable repository and deletes it', async () => {
    const created = await json<{ imageTagMutability: string }>(['registry', 'repos', 'create', 'tools/frozen', '--immutable']);
    assert.equal(created.imageTagMutability, 'IMMUTABLE');
    assert.equal((await berthCli(['registry', 'repos', 'delete', 'tools/frozen'])).code, 0);
  });

  it('sets a policy from standard input and shows it back; bad policy text fails with its reason', async () => {
    const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'All', Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage' }] });
    assert.equal((await berthCli(['registry', 'policy', 'set', 'tools/cli', '--file', '-'], policy)).code, 0);
    const shown = await json<{ policyText: string }>(['registry', 'policy', 'get', 'tools/cli']);
    assert.equal(shown.policyText, policy);
    const bad = await berthCli(['registry', 'policy', 'set', 'tools/cli', '--text', '{"Version":"2012-10-17","Statement":[]}']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /InvalidParameterException/);
  });

  it('previews and runs a lifecycle policy', async () => {
    const expireAll = JSON.stringify({
      rules: [{ rulePriority: 1, description: 'expire everything', selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }, action: { type: 'expire' } }],
    });
    assert.equal((await berthCli(['registry', 'lifecycle', 'put', 'tools/cli', '--text', expireAll])).code, 0);
    const preview = await berthCli(['registry', 'lifecycle', 'preview', 'tools/cli']);
    assert.match(preview.stdout, /0 images would expire/, 'one image (two tags) is within the count');
    const run = await json<{ expired: unknown[] }>(['registry', 'lifecycle', 'run', '--repository', 'admin/tools/cli', '--dry-run']);
    assert.deepEqual(run.expired, []);
  });

  it('creates, validates, lists and deletes a pull-through cache rule with an upstream login', async () => {
    const created = await berthCli(['registry', 'cache-rules', 'create', 'mirror', berth.url, '--username', 'admin'], berth.adminToken);
    assert.equal(created.code, 0, created.stderr);
    const validated = await berthCli(['registry', 'cache-rules', 'validate', 'mirror']);
    assert.equal(validated.code, 0, validated.stdout + validated.stderr);
    const listed = await json<Array<{ ecrRepositoryPrefix: string; credentialArn: string }>>(['registry', 'cache-rules', 'list']);
    assert.deepEqual(listed.map((r) => r.ecrRepositoryPrefix), ['mirror']);
    assert.match(listed[0]!.credentialArn, /secret:ecr-pullthroughcache\/mirror$/);
    assert.equal((await berthCli(['registry', 'cache-rules', 'delete', 'mirror'])).code, 0);
  });

  it('says what is wrong without a token or with an unknown repository', async () => {
    const noRepo = await berthCli(['registry', 'images', 'list', 'nope']);
    assert.equal(noRepo.code, 2);
    assert.match(noRepo.stderr, /RepositoryNotFoundException/);
    const noToken = await run(process.execPath, [cli, 'registry', 'repos', 'list', '--data', join(scratch, 'none')], {
      env: { PATH: process.env.PATH, BERTH_URL: berth.url },
      allowFailure: true,
    });
    assert.equal(noToken.code, 2);
    assert.match(noToken.stderr, /no API token/);
  });
});
