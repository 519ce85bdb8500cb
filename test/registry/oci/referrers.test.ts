import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { adminClient, descriptorOf, digestOf, expectOciError, jsonBytes, mediaTypes, randomBlob, uniqueName, type Descriptor, type OciClient, type PushedManifest } from './support.ts';

const sbomType = 'application/vnd.example.sbom.v1+json';
const signatureConfigType = 'application/vnd.example.signature.config.v1+json';
const bundleType = 'application/vnd.example.bundle.v1';

interface ReferrersIndex {
  schemaVersion: number;
  mediaType: string;
  manifests: Descriptor[];
}

// end-12a and end-12b: GET /v2/<name>/referrers/<digest>[?artifactType=].
describe('OCI referrers', () => {
  let berth: TestBerth;
  let admin: OciClient;
  const repository = `admin/${uniqueName('ref')}`;
  let subject: PushedManifest;
  let sbom: PushedManifest;
  let signature: PushedManifest;
  let bundle: PushedManifest;

  before(async () => {
    berth = await startBerth();
    admin = adminClient(berth);
    subject = await admin.pushImage(repository, { tag: 'app' });
    sbom = await admin.pushImage(repository, {
      artifactType: sbomType,
      subject: subject.descriptor,
      annotations: { 'org.opencontainers.image.created': '2026-01-02T03:04:05Z', 'com.example.tool': 'syft' },
    });
    // No artifactType: the referrers list reports the config's media type instead.
    signature = await admin.pushImage(repository, { configMediaType: signatureConfigType, subject: subject.descriptor });
    bundle = await admin.pushIndex(repository, [sbom.descriptor], { artifactType: bundleType, subject: subject.descriptor });
  });
  after(() => berth?.close());

  async function referrers(digest: string, query = ''): Promise<{ response: Response; index: ReferrersIndex }> {
    const response = await admin.fetch(`/v2/${repository}/referrers/${digest}${query}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), mediaTypes.ociIndex);
    const index = (await response.json()) as ReferrersIndex;
    assert.equal(index.schemaVersion, 2);
    assert.equal(index.mediaType, mediaTypes.ociIndex);
    return { response, index };
  }

  const byDigest = (descriptors: Descriptor[]) => [...descriptors].sort((a, b) => a.digest.localeCompare(b.digest));

  it('lists every referrer as a descriptor with artifactType and annotations', async () => {
    const { response, index } = await referrers(subject.digest);
    assert.equal(response.headers.get('oci-filters-applied'), null);
    const expected: Descriptor[] = [
      { ...sbom.descriptor, artifactType: sbomType, annotations: { 'org.opencontainers.image.created': '2026-01-02T03:04:05Z', 'com.example.tool': 'syft' } },
      { ...signature.descriptor, artifactType: signatureConfigType },
      { ...bundle.descriptor, artifactType: bundleType },
    ];
    assert.deepEqual(byDigest(index.manifests), byDigest(expected));
  });

  it('artifactType falls back to the config media type of an image manifest', async () => {
    const { index } = await referrers(subject.digest);
    const listed = index.manifests.find((m) => m.digest === signature.digest);
    assert.equal(listed?.artifactType, signatureConfigType);
  });

  it('?artifactType= filters and says so in OCI-Filters-Applied', async () => {
    for (const [type, expected] of [
      [sbomType, [sbom.digest]],
      [signatureConfigType, [signature.digest]],
      ['application/vnd.example.nothing', []],
    ] as const) {
      const { response, index } = await referrers(subject.digest, `?artifactType=${encodeURIComponent(type)}`);
      assert.equal(response.headers.get('oci-filters-applied'), 'artifactType');
      assert.deepEqual(index.manifests.map((m) => m.digest), expected);
    }
  });

  it('a digest without referrers gets 200 and an empty index', async () => {
    const { index } = await referrers(sbom.digest);
    assert.deepEqual(index.manifests, []);
    const { index: unknown } = await referrers(digestOf(randomBlob(8)));
    assert.deepEqual(unknown.manifests, []);
  });

  it('referrers of a subject that was never pushed are listed', async () => {
    const ghost = descriptorOf(mediaTypes.ociManifest, jsonBytes({ schemaVersion: 2, ghost: uniqueName('g') }));
    const early = await admin.pushImage(repository, { artifactType: sbomType, subject: ghost });
    const { index } = await referrers(ghost.digest);
    assert.deepEqual(index.manifests.map((m) => m.digest), [early.digest]);
  });

  it('a deleted referrer disappears from the list', async () => {
    const target = await admin.pushImage(repository);
    const gone = await admin.pushImage(repository, { artifactType: sbomType, subject: target.descriptor });
    assert.equal((await admin.fetch(`/v2/${repository}/manifests/${gone.digest}`, { method: 'DELETE' })).status, 202);
    assert.deepEqual((await referrers(target.digest)).index.manifests, []);
  });

  it('an invalid digest is 400 DIGEST_INVALID', async () => {
    await expectOciError(await admin.fetch(`/v2/${repository}/referrers/sha256:short`), 400, 'DIGEST_INVALID');
  });
});
