import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { ContainerStorage, creds, skopeo, textDigest, writeBusyboxContext } from '../support/containers.ts';
import { ociReference, twoPlatforms, writeOciLayout } from '../support/oci-image.ts';

const marker = 'built by buildah for berth';
const localName = 'localhost/e2e/busybox:1';

/**
 * buildah and podman push to and pull from Berth as they would from any registry. Each client
 * run uses storage of its own, so a pull really crosses the network.
 */
describe('buildah and podman with Berth', () => {
  let berth: TestBerth;
  let builder: ContainerStorage;
  const storages: ContainerStorage[] = [];

  /** Fresh, empty containers/storage, removed after the suite. */
  const freshStorage = async (purpose: string): Promise<ContainerStorage> => {
    const storage = await ContainerStorage.create(purpose);
    storages.push(storage);
    return storage;
  };

  before(async () => {
    berth = await startBerth();
    builder = await freshStorage('buildah-build');
    const context = await writeBusyboxContext(builder.path('context'), marker);
    await builder.buildah(['bud', '--isolation=chroot', '-t', localName, context]);
  });

  after(async () => {
    await berth?.close();
    for (const storage of storages) await storage.remove();
  });

  const image = (repository: string) => `${berth.host}/${repository}`;
  const adminCreds = () => creds('admin', berth.adminToken);

  /** Pushes the built image and returns the manifest digest buildah reports. */
  const pushBuilt = async (repository: string, auth: string[] = ['--creds', adminCreds()]): Promise<string> => {
    const digestFile = builder.path(`digest-${repository.replaceAll('/', '_')}`);
    await builder.buildah(['push', '--tls-verify=false', ...auth, '--digestfile', digestFile, localName, `docker://${image(repository)}`]);
    return (await readFile(digestFile, 'utf8')).trim();
  };

  const servedManifestText = async (repository: string): Promise<string> =>
    (await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', adminCreds(), `docker://${image(repository)}`])).stdout;
  /** The digest of the manifest Berth serves for `repository`, computed from its bytes. */
  const servedDigest = async (repository: string): Promise<string> => textDigest(await servedManifestText(repository));
  const servedManifest = async (repository: string): Promise<{ config: { digest: string } }> => JSON.parse(await servedManifestText(repository));

  it('buildah pushes an image built FROM scratch, and pulls it back into fresh storage', async () => {
    const digest = await pushBuilt('admin/e2e/buildah:1');
    assert.equal(await servedDigest('admin/e2e/buildah:1'), digest);

    const puller = await freshStorage('buildah-pull');
    await puller.buildah(['pull', '--tls-verify=false', '--creds', adminCreds(), `docker://${image('admin/e2e/buildah:1')}`]);
    const images = JSON.parse((await puller.buildah(['images', '--json'])).stdout) as Array<{ names: string[]; digest: string }>;
    assert.deepEqual(
      images.map((i) => ({ names: i.names, digest: i.digest })),
      [{ names: [image('admin/e2e/buildah:1')], digest }],
    );

    const container = (await puller.buildah(['from', '--pull-never', image('admin/e2e/buildah:1')])).stdout.trim();
    const shown = await puller.buildah(['run', '--isolation=chroot', container, '--', 'cat', '/marker.txt']);
    assert.equal(shown.stdout, `${marker}\n`);
    await puller.buildah(['rm', container]);
  });

  it('podman pulls the image, inspects it, and pushes it to another repository', async () => {
    const digest = await pushBuilt('admin/e2e/podman:1');
    const podman = await freshStorage('podman-pull');
    await podman.podman(['pull', '--quiet', '--tls-verify=false', '--creds', adminCreds(), image('admin/e2e/podman:1')]);

    const [inspected] = JSON.parse((await podman.podman(['image', 'inspect', image('admin/e2e/podman:1')])).stdout) as PodmanImage[];
    assert.equal(inspected?.Digest, digest);
    assert.deepEqual(inspected?.RepoDigests, [`${image('admin/e2e/podman')}@${digest}`]);
    assert.deepEqual(inspected?.Config.Cmd, ['/bin/sh']);
    const listed = JSON.parse((await podman.podman(['images', '--format', 'json'])).stdout) as Array<{ Names: string[]; Digest: string }>;
    assert.deepEqual(
      listed.map((i) => ({ names: i.Names, digest: i.Digest })),
      [{ names: [image('admin/e2e/podman:1')], digest }],
    );

    const pushedDigestFile = podman.path('pushed-digest');
    const target = `docker://${image('admin/e2e/podman-pushed:1')}`;
    await podman.podman(['push', '--tls-verify=false', '--creds', adminCreds(), '--digestfile', pushedDigestFile, image('admin/e2e/podman:1'), target]);
    assert.equal(await servedDigest('admin/e2e/podman-pushed:1'), (await readFile(pushedDigestFile, 'utf8')).trim());
    const [pushed, original] = await Promise.all([servedManifest('admin/e2e/podman-pushed:1'), servedManifest('admin/e2e/podman:1')]);
    assert.equal(pushed.config.digest, original.config.digest, 'podman pushed the same image config');
  });

  it('podman pulls the image of the platform it asks for from a two-platform index', async () => {
    const layout = await writeOciLayout({ dir: builder.path('platforms'), layers: 2, layerBytes: 64 * 1024, platforms: twoPlatforms });
    await skopeo(['copy', '--all', '--dest-tls-verify=false', '--dest-creds', adminCreds(), ociReference(layout), `docker://${image('admin/e2e/platforms:1')}`]);
    for (const generated of layout.images) {
      const podman = await freshStorage(`podman-${generated.platform.architecture}`);
      const { os, architecture } = generated.platform;
      const platformFlags = ['--os', os, '--arch', architecture];
      await podman.podman(['pull', '--quiet', '--tls-verify=false', '--creds', adminCreds(), ...platformFlags, image('admin/e2e/platforms:1')]);
      const [inspected] = JSON.parse((await podman.podman(['image', 'inspect', image('admin/e2e/platforms:1')])).stdout) as PodmanImage[];
      assert.equal(inspected?.Architecture, architecture);
      assert.equal(inspected?.Id, generated.config.digest.slice('sha256:'.length), "the image is the platform's own config");
      assert.deepEqual(
        inspected?.RootFS.Layers,
        generated.layers.map((layer) => layer.diffId),
      );
    }
  });

  it('podman login --authfile stores credentials that pull uses without --creds', async () => {
    const digest = await pushBuilt('admin/e2e/podman-login:1');
    const podman = await freshStorage('podman-login');
    const authfile = podman.path('auth.json');
    const login = await podman.podman(['login', '--authfile', authfile, '--tls-verify=false', '-u', 'admin', '--password-stdin', berth.host], {
      input: `${berth.adminToken}\n`,
    });
    assert.match(login.stdout, /Login Succeeded/);
    const stored = JSON.parse(await readFile(authfile, 'utf8')) as AuthFile;
    assert.ok(stored.auths[berth.host]?.auth, 'podman stored credentials for Berth');

    await podman.podman(['pull', '--quiet', '--tls-verify=false', '--authfile', authfile, image('admin/e2e/podman-login:1')]);
    const [inspected] = JSON.parse((await podman.podman(['image', 'inspect', image('admin/e2e/podman-login:1')])).stdout) as PodmanImage[];
    assert.equal(inspected?.Digest, digest);
  });

  it('buildah login --authfile stores credentials that push and pull use without --creds', async () => {
    const buildah = await freshStorage('buildah-login');
    const authfile = buildah.path('auth.json');
    const login = await buildah.buildah(['login', '--authfile', authfile, '--tls-verify=false', '-u', 'admin', '--password-stdin', berth.host], {
      input: `${berth.adminToken}\n`,
    });
    assert.match(login.stdout, /Login Succeeded/);

    const digest = await pushBuilt('admin/e2e/buildah-login:1', ['--authfile', authfile]);
    assert.equal(await servedDigest('admin/e2e/buildah-login:1'), digest);
    await buildah.buildah(['pull', '--tls-verify=false', '--authfile', authfile, `docker://${image('admin/e2e/buildah-login:1')}`]);
    const images = JSON.parse((await buildah.buildah(['images', '--json'])).stdout) as Array<{ digest: string }>;
    assert.deepEqual(
      images.map((i) => i.digest),
      [digest],
    );
  });

  it('refuses podman and buildah logins with a wrong token', async () => {
    const storage = await freshStorage('wrong-login');
    const authfile = storage.path('auth.json');
    const loginAs = (password: string) => ['login', '--authfile', authfile, '--tls-verify=false', '-u', 'admin', '-p', password, berth.host];
    const attempts = [
      await storage.podman(loginAs('berth_wrong-token'), { allowFailure: true }),
      await storage.buildah(loginAs('berth_wrong-token'), { allowFailure: true }),
      // A real token of another user does not log in as admin either.
      await storage.podman(loginAs(await berth.user('mallory')), { allowFailure: true }),
    ];
    for (const attempt of attempts) {
      assert.notEqual(attempt.code, 0, attempt.stdout);
      assert.match(attempt.stderr, /invalid username\/password|unauthorized/i);
    }
    const stored = await readFile(authfile, 'utf8').catch(() => '{"auths":{}}');
    assert.equal((JSON.parse(stored) as AuthFile).auths[berth.host], undefined, 'a failed login stores nothing');
  });
});

interface PodmanImage {
  Id: string;
  Architecture: string;
  RootFS: { Layers: string[] };
  Digest: string;
  RepoDigests: string[];
  Config: { Cmd?: string[] };
}

interface AuthFile {
  auths: Record<string, { auth?: string } | undefined>;
}
