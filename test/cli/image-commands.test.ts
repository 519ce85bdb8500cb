import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { basic, startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { ociReference, twoPlatforms, writeOciLayout, type GeneratedLayout } from '../support/oci-image.ts';
import { run } from '../support/processes.ts';
import { runBerthCli } from '../support/berth-cli.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;

interface Inspected {
  Architecture: string;
  Layers: string[];
  Env: string[];
}

/**
 * `berth image augment` end to end: the CLI packs and uploads the layer over the OCI API, the API
 * does the manifest surgery, and skopeo (a real registry client) reads and copies the result.
 */
describe('berth image augment', () => {
  let berth: TestBerth;
  let scratch: string;
  let agentDir: string;
  let multi: GeneratedLayout;
  let single: GeneratedLayout;
  const adminCreds = () => creds('admin', berth.adminToken);
  const ref = (name: string) => `docker://${berth.host}/${name}`;
  const berthCli = (args: string[]) => runBerthCli(berth, args);
  const inspect = async <T>(args: string[]): Promise<T> => JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--creds', adminCreds(), ...args])).stdout) as T;

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('cli-augment');
    agentDir = join(scratch, 'agent');
    await mkdir(join(agentDir, 'opt/berth'), { recursive: true });
    await writeFile(join(agentDir, 'opt/berth/agent'), 'the session agent\n');
    multi = await writeOciLayout({ dir: join(scratch, 'multi'), layers: 2, layerBytes: 64 * 1024, platforms: twoPlatforms });
    single = await writeOciLayout({ dir: join(scratch, 'single'), layers: 1, layerBytes: 64 * 1024 });
    const push = (layout: GeneratedLayout, name: string, extra: string[] = []) =>
      skopeo(['copy', '--all', ...extra, '--dest-tls-verify=false', '--dest-creds', adminCreds(), ociReference(layout), ref(name)]);
    await push(multi, 'admin/base/multi:1');
    await push(single, 'admin/base/docker:1', ['--format', 'v2s2']);
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('adds a layer directory, env and entrypoint to both platforms; base layers stay; skopeo copies every blob', async () => {
    const augmented = await berthCli([
      'image', 'augment', `${berth.host}/admin/base/multi:1`,
      '--layer', agentDir, '--env', 'AGENT=on', '--env', 'PATH=/opt/berth:/bin', '--entrypoint', '/opt/berth/agent',
      '--to', `${berth.host}/admin/out/multi:1`, '--json',
    ]);
    assert.equal(augmented.code, 0, augmented.stderr);
    const result = JSON.parse(augmented.stdout) as { target: string; digest: string; platforms: Array<{ platform: string }>; uploadedLayers: string[]; mountedLayers: string[] };
    assert.equal(result.target, 'admin/out/multi:1');
    assert.deepEqual(result.platforms.map((p) => p.platform), ['linux/amd64', 'linux/arm64']);
    const [added] = result.uploadedLayers;

    const index = await inspect<{ mediaType: string; manifests: Array<{ platform: unknown }> }>(['--raw', ref('admin/out/multi:1')]);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests.map((m) => m.platform), twoPlatforms);
    for (const image of multi.images) {
      const arch = ['--override-os', 'linux', '--override-arch', image.platform.architecture];
      const shown = await inspect<Inspected>([...arch, ref('admin/out/multi:1')]);
      assert.equal(shown.Architecture, image.platform.architecture);
      assert.deepEqual(shown.Layers, [...image.layers.map((layer) => layer.digest), added], 'base layer digests are unchanged, the new one last');
      assert.deepEqual(shown.Env, ['PATH=/opt/berth:/bin', 'AGENT=on']);
      const config = await inspect<{ config: { Entrypoint: string[] } }>([...arch, '--config', ref('admin/out/multi:1')]);
      assert.deepEqual(config.config.Entrypoint, ['/opt/berth/agent']);
    }

    const copy = join(scratch, 'copied');
    await skopeo(['copy', '--all', '--src-tls-verify=false', '--src-creds', adminCreds(), ref('admin/out/multi:1'), `oci:${copy}:augmented`]);
    const listing = await run('tar', ['--list', '--gzip', '--file', join(copy, 'blobs', 'sha256', added!.slice('sha256:'.length))]);
    assert.deepEqual(listing.stdout.trim().split('\n'), ['opt/', 'opt/berth/', 'opt/berth/agent']);
  });

  it('keeps a Docker schema 2 image Docker: manifest, config and the new layer media types', async () => {
    const tarFile = join(scratch, 'extra.tar');
    await run('tar', ['--create', '--file', tarFile, '--directory', agentDir, 'opt']);
    const augmented = await berthCli(['image', 'augment', 'admin/base/docker:1', '--layer', tarFile, '--cmd', '["run","--fast"]', '--to', 'admin/out/docker:1']);
    assert.equal(augmented.code, 0, augmented.stderr);
    assert.match(augmented.stdout, /^admin\/out\/docker:1 \(sha256:[0-9a-f]{64}\) from admin\/base\/docker:1$/m);
    assert.match(augmented.stdout, /1 layer\(s\) added, 1 base layer\(s\) mounted without copying/);

    const before = await inspect<{ layers: Array<{ digest: string }> }>(['--raw', ref('admin/base/docker:1')]);
    const manifest = await inspect<{ mediaType: string; config: { mediaType: string }; layers: Array<{ mediaType: string; digest: string }> }>(['--raw', ref('admin/out/docker:1')]);
    assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
    assert.equal(manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
    assert.deepEqual(manifest.layers.map((l) => l.mediaType), ['application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip']);
    assert.equal(manifest.layers[0]!.digest, before.layers[0]!.digest);
    const config = await inspect<{ config: { Cmd: string[] } }>(['--config', ref('admin/out/docker:1')]);
    assert.deepEqual(config.config.Cmd, ['run', '--fast']);
  });

  it('reports refusals and leaves no target behind: unknown source, bad env, missing layer, not allowed', async () => {
    const outsider = await berth.user('outsider');
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('outsider', outsider), ociReference(single), ref('outsider/base:1')]);
    const attempts: Array<[string[], RegExp, Record<string, string>?]> = [
      [['admin/base/nothing:1', '--env', 'A=1', '--to', 'admin/out/refused:1'], /source image admin\/base\/nothing:1 not found/],
      [['admin/base/nothing:1', '--layer', agentDir, '--to', 'admin/out/refused:1'], /source image admin\/base\/nothing:1 not found, or not yours to pull/],
      [['admin/base/multi:1', '--env', 'NOT-AN-ASSIGNMENT', '--to', 'admin/out/refused:1'], /must look like KEY=VALUE/],
      [['admin/base/multi:1', '--layer', join(scratch, 'nowhere'), '--to', 'admin/out/refused:1'], /--layer .*nowhere: no such directory or file/],
      [['admin/base/multi:1', '--env', 'A=1', '--to', 'admin/out/refused:1'], /pull on admin\/base\/multi is not allowed for outsider/, { BERTH_TOKEN: outsider }],
      [['outsider/nothing:1', '--layer', agentDir, '--to', 'admin/out/refused:1'], /not yours to pull/, { BERTH_TOKEN: outsider }],
      [['outsider/base:1', '--layer', agentDir, '--to', 'admin/out/refused:1'], /DENIED: push on admin\/out\/refused is not allowed for outsider/, { BERTH_TOKEN: outsider }],
      [['outsider/base:1', '--env', 'A=1', '--to', 'admin/out/refused:1'], /push on admin\/out\/refused is not allowed for outsider/, { BERTH_TOKEN: outsider }],
    ];
    for (const [args, message, env] of attempts) {
      const result = await run(process.execPath, [cli, 'image', 'augment', ...args], {
        env: { ...process.env, BERTH_URL: berth.url, BERTH_TOKEN: berth.adminToken, ...env },
        allowFailure: true,
      });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stdout}`);
      assert.match(result.stderr, message);
    }
    const gone = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', adminCreds(), ref('admin/out/refused:1')], { allowFailure: true });
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /manifest unknown|name unknown/i);
    const catalog = await fetch(`${berth.url}/v2/_catalog`, { headers: { Authorization: basic('admin', berth.adminToken) } });
    const { repositories } = (await catalog.json()) as { repositories: string[] };
    assert.ok(!repositories.includes('admin/out/refused'), `no repository was created: ${repositories.join(', ')}`);
  });
});
