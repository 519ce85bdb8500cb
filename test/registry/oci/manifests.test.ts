import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import {
  adminClient,
  bodyOf,
  descriptorOf,
  digestOf,
  expectOciError,
  jsonBytes,
  mediaTypes,
  randomBlob,
  uniqueName,
  type Descriptor,
  type OciClient,
  type PushedManifest,
} from './support.ts';

/**
 * A manifest as a hand-editing client might send it: keys in reverse order, uneven whitespace,
 * a trailing newline. The registry must store and return these bytes untouched.
 */
function oddlyFormatted(fields: Record<string, unknown>): Buffer {
  const members = Object.entries(fields)
    .reverse()
    .map(([key, value], i) => `${' '.repeat(i % 3)}"${key}" :${'\t'.repeat(i % 2)}${JSON.stringify(value, null, i % 2 ? 3 : undefined)}`);
  return Buffer.from(`{\n${members.join(' ,\n')}\n}\n\n`);
}

// end-3 (GET/HEAD manifest), end-7 (PUT manifest), end-9 (DELETE manifest).
describe('OCI manifests', () => {
  let berth: TestBerth;
  let admin: OciClient;

  before(async () => {
    berth = await startBerth();
    admin = adminClient(berth);
  });
  after(() => berth?.close());

  const newRepository = () => `admin/${uniqueName('mf')}`;
  const manifestUrl = (repository: string, reference: string) => `/v2/${repository}/manifests/${reference}`;

  /** Blobs for an image manifest, pushed to the repository: its config and one layer descriptor. */
  async function imageParts(repository: string, flavour: 'oci' | 'docker'): Promise<{ config: Descriptor; layers: Descriptor[] }> {
    const config = await admin.pushBlob(repository, jsonBytes({ architecture: 'amd64', os: 'linux', n: uniqueName('c') }));
    const layer = await admin.pushBlob(repository);
    return {
      config: descriptorOf(flavour === 'oci' ? mediaTypes.ociConfig : mediaTypes.dockerConfig, config.bytes),
      layers: [descriptorOf(flavour === 'oci' ? mediaTypes.ociLayer : mediaTypes.dockerLayer, layer.bytes)],
    };
  }

  /** The four manifest kinds, each built (with what it references) in `repository`. */
  const kinds: Array<{ kind: string; mediaType: string; build: (repository: string) => Promise<Buffer> }> = [
    {
      kind: 'OCI image manifest',
      mediaType: mediaTypes.ociManifest,
      build: async (repository) => oddlyFormatted({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, ...(await imageParts(repository, 'oci')) }),
    },
    {
      kind: 'OCI image index',
      mediaType: mediaTypes.ociIndex,
      build: async (repository) => {
        const children = [await admin.pushImage(repository), await admin.pushImage(repository)];
        return oddlyFormatted({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: children.map((c) => c.descriptor) });
      },
    },
    {
      kind: 'Docker schema2 manifest',
      mediaType: mediaTypes.dockerManifest,
      build: async (repository) => oddlyFormatted({ schemaVersion: 2, mediaType: mediaTypes.dockerManifest, ...(await imageParts(repository, 'docker')) }),
    },
    {
      kind: 'Docker manifest list',
      mediaType: mediaTypes.dockerManifestList,
      build: async (repository) => {
        const child = await admin.pushImage(repository, { flavour: 'docker' });
        return oddlyFormatted({ schemaVersion: 2, mediaType: mediaTypes.dockerManifestList, manifests: [child.descriptor] });
      },
    },
  ];

  async function expectManifest(repository: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    const got = await admin.fetch(manifestUrl(repository, reference), { headers: { Accept: mediaType } });
    assert.equal(got.status, 200, `GET ${reference}`);
    assert.equal(got.headers.get('content-type'), mediaType);
    assert.equal(got.headers.get('docker-content-digest'), digestOf(bytes));
    assert.ok((await bodyOf(got)).equals(bytes), `GET ${reference} returned other bytes than were pushed`);

    const head = await admin.fetch(manifestUrl(repository, reference), { method: 'HEAD', headers: { Accept: mediaType } });
    assert.equal(head.status, 200, `HEAD ${reference}`);
    assert.equal(head.headers.get('content-type'), mediaType);
    assert.equal(head.headers.get('content-length'), String(bytes.length));
    assert.equal(head.headers.get('docker-content-digest'), digestOf(bytes));
    assert.equal((await bodyOf(head)).length, 0);
  }

  for (const { kind, mediaType, build } of kinds) {
    it(`${kind}: PUT by tag, then GET/HEAD by tag and digest return the exact bytes`, async () => {
      const repository = newRepository();
      const bytes = await build(repository);
      const digest = digestOf(bytes);
      const put = await admin.putManifest(repository, 'v1', bytes, mediaType);
      assert.equal(put.status, 201, await put.text());
      assert.equal(put.headers.get('docker-content-digest'), digest);
      assert.equal(admin.url(put.headers.get('location') ?? ''), admin.url(manifestUrl(repository, digest)));
      await expectManifest(repository, 'v1', bytes, mediaType);
      await expectManifest(repository, digest, bytes, mediaType);
    });

    it(`${kind}: PUT by digest stores it untagged`, async () => {
      const repository = newRepository();
      const bytes = await build(repository);
      const digest = digestOf(bytes);
      const put = await admin.putManifest(repository, digest, bytes, mediaType);
      assert.equal(put.status, 201, await put.text());
      assert.equal(put.headers.get('docker-content-digest'), digest);
      await expectManifest(repository, digest, bytes, mediaType);
      assert.deepEqual(await admin.listTags(repository), []);
    });
  }

  it('the media type comes from Content-Type when the body names none, and is echoed on GET', async () => {
    const repository = newRepository();
    const bytes = jsonBytes({ schemaVersion: 2, ...(await imageParts(repository, 'oci')) });
    await admin.pushManifestBytes(repository, bytes, mediaTypes.ociManifest, 'bare');
    await expectManifest(repository, 'bare', bytes, mediaTypes.ociManifest);
  });

  it('a sha512 digest reference is accepted', async () => {
    const repository = newRepository();
    const bytes = jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, ...(await imageParts(repository, 'oci')) });
    const digest = digestOf(bytes, 'sha512');
    const put = await admin.putManifest(repository, digest, bytes, mediaTypes.ociManifest);
    assert.equal(put.status, 201, await put.text());
    assert.equal(put.headers.get('docker-content-digest'), digest);
    const got = await admin.fetch(manifestUrl(repository, digest));
    assert.equal(got.status, 200);
    assert.ok((await bodyOf(got)).equals(bytes));
  });

  it('pushing a tag again moves it to the new manifest', async () => {
    const repository = newRepository();
    await admin.pushImage(repository, { tag: 'latest' });
    const second = await admin.pushImage(repository, { tag: 'latest' });
    await expectManifest(repository, 'latest', second.bytes, second.mediaType);
  });

  it('PUT by a digest the body does not hash to is DIGEST_INVALID', async () => {
    const repository = newRepository();
    const bytes = jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, ...(await imageParts(repository, 'oci')) });
    const wrong = digestOf(Buffer.concat([bytes, Buffer.from(' ')]));
    await expectOciError(await admin.putManifest(repository, wrong, bytes, mediaTypes.ociManifest), 400, 'DIGEST_INVALID');
    await expectOciError(await admin.fetch(manifestUrl(repository, wrong)), 404, 'MANIFEST_UNKNOWN');
  });

  describe('references must exist in the repository', () => {
    it('a layer that was never pushed is MANIFEST_BLOB_UNKNOWN', async () => {
      const repository = newRepository();
      const { config } = await imageParts(repository, 'oci');
      const missing = descriptorOf(mediaTypes.ociLayer, randomBlob(100));
      const bytes = jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config, layers: [missing] });
      const error = await expectOciError(await admin.putManifest(repository, 'v1', bytes, mediaTypes.ociManifest), 404, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(error.detail, { digest: missing.digest });
      await expectOciError(await admin.fetch(manifestUrl(repository, 'v1')), 404, 'MANIFEST_UNKNOWN');
    });

    it('a config that lives only in another repository is MANIFEST_BLOB_UNKNOWN', async () => {
      const repository = newRepository();
      const elsewhere = await imageParts(newRepository(), 'oci');
      const { layers } = await imageParts(repository, 'oci');
      const bytes = jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: elsewhere.config, layers });
      await expectOciError(await admin.putManifest(repository, 'v1', bytes, mediaTypes.ociManifest), 404, 'MANIFEST_BLOB_UNKNOWN');
    });

    it('an index naming a child manifest that is not here is MANIFEST_BLOB_UNKNOWN', async () => {
      const repository = newRepository();
      const present = await admin.pushImage(repository);
      const absent = descriptorOf(mediaTypes.ociManifest, jsonBytes({ schemaVersion: 2, nothing: uniqueName('x') }));
      const bytes = jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociIndex, manifests: [present.descriptor, absent] });
      const error = await expectOciError(await admin.putManifest(repository, 'multi', bytes, mediaTypes.ociIndex), 404, 'MANIFEST_BLOB_UNKNOWN');
      assert.deepEqual(error.detail, { digest: absent.digest });
    });
  });

  describe('invalid manifests are MANIFEST_INVALID', () => {
    const cases: Array<{ what: string; contentType: string; body: (parts: { config: Descriptor; layers: Descriptor[] }) => Buffer }> = [
      { what: 'invalid JSON', contentType: mediaTypes.ociManifest, body: () => Buffer.from('{"schemaVersion": 2, "config": ') },
      { what: 'a JSON array', contentType: mediaTypes.ociManifest, body: () => Buffer.from('[]') },
      {
        what: 'an unknown media type',
        contentType: 'application/vnd.example.unknown.v1+json',
        body: (parts) => jsonBytes({ schemaVersion: 2, mediaType: 'application/vnd.example.unknown.v1+json', ...parts }),
      },
      {
        what: 'schemaVersion 1',
        contentType: mediaTypes.ociManifest,
        body: (parts) => jsonBytes({ schemaVersion: 1, mediaType: mediaTypes.ociManifest, ...parts }),
      },
      {
        what: 'a body mediaType that contradicts Content-Type',
        contentType: mediaTypes.dockerManifest,
        body: (parts) => jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, ...parts }),
      },
      {
        what: 'a descriptor with a malformed digest',
        contentType: mediaTypes.ociManifest,
        body: (parts) => jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, config: { ...parts.config, digest: 'sha256:xyz' }, layers: parts.layers }),
      },
    ];
    for (const { what, contentType, body } of cases) {
      it(what, async () => {
        const repository = newRepository();
        const bytes = body(await imageParts(repository, 'oci'));
        await expectOciError(await admin.putManifest(repository, 'bad', bytes, contentType), 400, 'MANIFEST_INVALID');
        await expectOciError(await admin.fetch(manifestUrl(repository, 'bad')), 404, 'MANIFEST_UNKNOWN');
      });
    }
  });

  it('a manifest over 4 MiB is refused with 413', async () => {
    const repository = newRepository();
    const parts = await imageParts(repository, 'oci');
    const bytes = jsonBytes({ schemaVersion: 2, mediaType: mediaTypes.ociManifest, ...parts, annotations: { padding: 'x'.repeat(4 * 1024 * 1024) } });
    const response = await admin.putManifest(repository, 'huge', bytes, mediaTypes.ociManifest);
    await expectOciError(response, 413, 'SIZE_INVALID');
    await expectOciError(await admin.fetch(manifestUrl(repository, 'huge')), 404, 'MANIFEST_UNKNOWN');
  });

  it('an invalid tag is refused with 400', async () => {
    const repository = newRepository();
    const { bytes } = await admin.pushImage(repository);
    for (const tag of ['-leading-dash', '.dot', 'x'.repeat(129), 'has+plus']) {
      await expectOciError(await admin.putManifest(repository, tag, bytes, mediaTypes.ociManifest), 400, 'MANIFEST_INVALID');
    }
    const longest = 'T'.repeat(128);
    assert.equal((await admin.putManifest(repository, longest, bytes, mediaTypes.ociManifest)).status, 201, 'a 128-character tag is valid');
  });

  describe('DELETE', () => {
    async function taggedTwice(repository: string): Promise<PushedManifest> {
      const image = await admin.pushImage(repository, { tag: 'one' });
      await admin.pushManifestBytes(repository, image.bytes, image.mediaType, 'two');
      return image;
    }

    it('by digest answers 202 and removes the manifest with all its tags', async () => {
      const repository = newRepository();
      const image = await taggedTwice(repository);
      const deleted = await admin.fetch(manifestUrl(repository, image.digest), { method: 'DELETE' });
      assert.equal(deleted.status, 202, await deleted.text());
      for (const reference of [image.digest, 'one', 'two']) {
        await expectOciError(await admin.fetch(manifestUrl(repository, reference)), 404, 'MANIFEST_UNKNOWN');
      }
      assert.deepEqual(await admin.listTags(repository), []);
    });

    it('by tag answers 202 and removes only that tag', async () => {
      const repository = newRepository();
      const image = await taggedTwice(repository);
      const deleted = await admin.fetch(manifestUrl(repository, 'one'), { method: 'DELETE' });
      assert.equal(deleted.status, 202, await deleted.text());
      await expectOciError(await admin.fetch(manifestUrl(repository, 'one')), 404, 'MANIFEST_UNKNOWN');
      await expectManifest(repository, 'two', image.bytes, image.mediaType);
      await expectManifest(repository, image.digest, image.bytes, image.mediaType);
      assert.deepEqual(await admin.listTags(repository), ['two']);
    });
  });

  it('an unknown tag or digest is 404 MANIFEST_UNKNOWN for GET, HEAD and DELETE', async () => {
    const repository = newRepository();
    await admin.pushImage(repository, { tag: 'exists' });
    for (const reference of ['missing', digestOf(randomBlob(8))]) {
      for (const method of ['GET', 'HEAD', 'DELETE']) {
        await expectOciError(await admin.fetch(manifestUrl(repository, reference), { method }), 404, 'MANIFEST_UNKNOWN');
      }
    }
  });

  it('a manifest with a subject answers with OCI-Subject, even when the subject is not (yet) here', async () => {
    const repository = newRepository();
    const subject = descriptorOf(mediaTypes.ociManifest, jsonBytes({ schemaVersion: 2, never: uniqueName('pushed') }));
    const referrer = await admin.pushImage(repository, { artifactType: 'application/vnd.example.sig', subject });
    const put = await admin.putManifest(repository, referrer.digest, referrer.bytes, referrer.mediaType);
    assert.equal(put.status, 201);
    assert.equal(put.headers.get('oci-subject'), subject.digest);
    const plain = await admin.putManifest(repository, 'plain', (await admin.pushImage(repository)).bytes, mediaTypes.ociManifest);
    assert.equal(plain.headers.get('oci-subject'), null, 'no OCI-Subject without a subject');
  });
});
