import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo, textDigest, writeBusyboxContext } from '../support/containers.ts';
import { startDockerd, type Dockerd } from '../support/dockerd.ts';
import { ociReference, twoPlatforms, writeOciLayout } from '../support/oci-image.ts';

const marker = 'built by docker for berth';

/**
 * The Docker engine and CLI (a private dockerd) log in to Berth with token auth, push, pull and
 * run images. docker login trades the API token for a refresh token, so every later push and
 * pull also exercises the refresh-token grant.
 */
describe('docker with Berth', () => {
  let berth: TestBerth;
  let dockerd: Dockerd | undefined;
  let scratch: string;
  let context: string;

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('docker');
    context = await writeBusyboxContext(join(scratch, 'context'), marker);
    dockerd = await startDockerd({ insecureRegistries: [berth.host] });
  });

  after(async () => {
    await dockerd?.stop();
    await berth?.close();
    await removeDir(scratch);
  });

  // Each test starts from an engine without images, so every pull really downloads.
  afterEach(async () => {
    await dockerd?.docker(['image', 'prune', '--all', '--force'], { configDir: join(scratch, 'prune') });
  });

  const image = (repository: string) => `${berth.host}/${repository}`;

  /** A DOCKER_CONFIG directory of its own, logged in to Berth as `user`. */
  const loggedIn = async (user: string, token: string): Promise<string> => {
    const configDir = await mkdtemp(join(scratch, `config-${user}-`));
    const login = await engine().docker(['login', berth.host, '-u', user, '--password-stdin'], { configDir, input: `${token}\n` });
    assert.match(login.stdout, /Login Succeeded/);
    return configDir;
  };
  const engine = (): Dockerd => {
    assert.ok(dockerd, 'dockerd is running');
    return dockerd;
  };
  const build = (tag: string, configDir: string) => engine().docker(['build', '--quiet', '-t', tag, context], { configDir });
  const servedDigest = async (repository: string) =>
    textDigest((await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), `docker://${image(repository)}`])).stdout);

  it('docker login stores a refresh token from Berth instead of the API token', async () => {
    const configDir = await loggedIn('admin', berth.adminToken);
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as DockerConfig;
    const entry = config.auths[berth.host];
    assert.ok(entry?.identitytoken, 'docker kept an identity (refresh) token');
    assert.equal(Buffer.from(entry.auth ?? '', 'base64').toString(), 'admin:', 'the API token itself is not stored');
    assert.ok(!JSON.stringify(config).includes(berth.adminToken));
  });

  it('docker builds, pushes, forgets, pulls and runs an image', async () => {
    const configDir = await loggedIn('admin', berth.adminToken);
    const tag = image('admin/e2e/docker:1');
    await build(tag, configDir);

    const pushed = await engine().docker(['push', tag], { configDir });
    const pushedDigest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    assert.ok(pushedDigest, pushed.stdout);
    assert.equal(await servedDigest('admin/e2e/docker:1'), pushedDigest);

    await engine().docker(['rmi', tag], { configDir });
    const forgotten = await engine().docker(['image', 'inspect', tag], { configDir, allowFailure: true });
    assert.notEqual(forgotten.code, 0, 'the image is gone from the engine before the pull');

    const pulled = await engine().docker(['pull', tag], { configDir });
    assert.match(pulled.stdout, new RegExp(`Digest: ${pushedDigest}`));
    assert.match(pulled.stdout, /Downloaded newer image/);

    const echoed = await engine().docker(['run', '--rm', '--network', 'host', tag, 'echo', 'hello from berth'], { configDir });
    assert.equal(echoed.stdout, 'hello from berth\n');
    const shown = await engine().docker(['run', '--rm', '--network', 'host', tag, 'cat', '/marker.txt'], { configDir });
    assert.equal(shown.stdout, `${marker}\n`);
  });

  it('a pull-only token can pull but not push', async () => {
    const readerToken = await berth.user('reader', ['registry:pull']);
    const adminConfig = await loggedIn('admin', berth.adminToken);
    const readable = image('reader/app:1');
    await build(readable, adminConfig);
    await engine().docker(['push', readable], { configDir: adminConfig });
    await engine().docker(['rmi', readable], { configDir: adminConfig });

    const readerConfig = await loggedIn('reader', readerToken);
    const pulled = await engine().docker(['pull', readable], { configDir: readerConfig });
    assert.match(pulled.stdout, /Downloaded newer image/);

    const unwritable = image('reader/app:2');
    await engine().docker(['tag', readable, unwritable], { configDir: readerConfig });
    const push = await engine().docker(['push', unwritable], { configDir: readerConfig, allowFailure: true });
    assert.notEqual(push.code, 0, push.stdout);
    assert.match(push.stderr, /denied: requested access to the resource is denied/);

    const absent = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), `docker://${unwritable}`], {
      allowFailure: true,
    });
    assert.match(absent.stderr, /manifest unknown/, 'the refused push left no tag behind');
  });

  it('revoking the API token ends the docker login made with it', async () => {
    const token = await berth.user('leaver');
    const configDir = await loggedIn('leaver', token);
    const tag = image('leaver/app:1');
    await build(tag, configDir);
    await engine().docker(['push', tag], { configDir });
    await engine().docker(['rmi', tag], { configDir });

    const tokens = await berth.api<{ tokens: Array<{ id: string }> }>('GET', '/api/users/leaver/tokens');
    for (const { id } of tokens.body.tokens) assert.equal((await berth.api('DELETE', `/api/users/leaver/tokens/${id}`)).status, 204);
    const pull = await engine().docker(['pull', tag], { configDir, allowFailure: true });
    assert.notEqual(pull.code, 0, 'the stored refresh token must stop working');
    assert.match(pull.stderr, /unauthorized|incorrect username or password/i);
  });

  it('pulls a public repository anonymously, and refuses a private one', async () => {
    const adminConfig = await loggedIn('admin', berth.adminToken);
    const anonymousConfig = await mkdtemp(join(scratch, 'config-anonymous-'));
    for (const repository of ['admin/e2e/public', 'admin/e2e/private']) {
      await build(image(`${repository}:1`), adminConfig);
      await engine().docker(['push', image(`${repository}:1`)], { configDir: adminConfig });
      await engine().docker(['rmi', image(`${repository}:1`)], { configDir: adminConfig });
    }
    assert.equal((await berth.api('PATCH', '/api/registry/repositories/admin/e2e/public', { public: true })).status, 200);

    const pulled = await engine().docker(['pull', image('admin/e2e/public:1')], { configDir: anonymousConfig });
    assert.match(pulled.stdout, /Downloaded newer image/);
    const refused = await engine().docker(['pull', image('admin/e2e/private:1')], { configDir: anonymousConfig, allowFailure: true });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /pull access denied|denied: requested access to the resource is denied/);
  });

  it('reads a two-platform OCI index with docker manifest inspect, and pulls each platform', async () => {
    const layout = await writeOciLayout({ dir: join(scratch, 'platforms'), layers: 2, layerBytes: 64 * 1024, platforms: twoPlatforms });
    const adminCreds = creds('admin', berth.adminToken);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', adminCreds, ociReference(layout), `docker://${image('admin/e2e/platforms:1')}`]);
    const configDir = await loggedIn('admin', berth.adminToken);
    const tag = image('admin/e2e/platforms:1');

    // The CLI's own registry client (not the engine's) uses the stored refresh token too.
    const inspected = await engine().docker(['manifest', 'inspect', '--insecure', tag], { configDir });
    const index = JSON.parse(inspected.stdout) as { manifests: Array<{ digest: string }> };
    assert.deepEqual(
      index.manifests.map((m) => m.digest),
      layout.images.map((i) => i.manifest.digest),
    );

    for (const generated of layout.images) {
      const platform = `${generated.platform.os}/${generated.platform.architecture}`;
      await engine().docker(['pull', '--platform', platform, tag], { configDir });
      const [inspected] = JSON.parse((await engine().docker(['image', 'inspect', tag], { configDir })).stdout) as DockerImage[];
      assert.equal(inspected?.Architecture, generated.platform.architecture);
      assert.deepEqual(inspected?.RepoDigests, [`${image('admin/e2e/platforms')}@${layout.top.digest}`]);
      assert.deepEqual(
        inspected?.RootFS.Layers,
        generated.layers.map((layer) => layer.diffId),
      );
      await engine().docker(['rmi', tag], { configDir });
    }
  });

  it('docker login with a wrong token fails', async () => {
    const configDir = await mkdtemp(join(scratch, 'config-wrong-'));
    const login = await engine().docker(['login', berth.host, '-u', 'admin', '--password-stdin'], {
      configDir,
      input: 'berth_wrong-token\n',
      allowFailure: true,
    });
    assert.notEqual(login.code, 0);
    assert.match(login.stderr, /unauthorized|incorrect username or password/i);
  });
});

interface DockerImage {
  Architecture: string;
  RepoDigests: string[];
  RootFS: { Layers: string[] };
}

interface DockerConfig {
  auths: Record<string, { auth?: string; identitytoken?: string } | undefined>;
}
