import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { adminClient, bodyOf, digestOf, expectOciError, randomBlob, uniqueName, type OciClient } from './support.ts';

// end-2 (GET/HEAD blob, with Range) and end-10 (DELETE blob).
describe('OCI blobs', () => {
  let berth: TestBerth;
  let admin: OciClient;
  const repository = `admin/${uniqueName('blobs')}`;
  const bytes = randomBlob(1000);
  const digest = digestOf(bytes);

  before(async () => {
    berth = await startBerth();
    admin = adminClient(berth);
    await admin.pushBlob(repository, bytes);
  });
  after(() => berth?.close());

  const getRange = (range: string, method = 'GET') => admin.fetch(`/v2/${repository}/blobs/${digest}`, { method, headers: { Range: range } });

  it('GET returns the bytes with Content-Length and Docker-Content-Digest', async () => {
    const response = await admin.fetch(`/v2/${repository}/blobs/${digest}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '1000');
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await bodyOf(response), bytes);
  });

  it('HEAD returns the same headers and no body', async () => {
    const response = await admin.fetch(`/v2/${repository}/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '1000');
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.equal((await bodyOf(response)).length, 0);
  });

  for (const [range, start, end] of [
    ['bytes=10-19', 10, 19],
    ['bytes=990-', 990, 999],
    ['bytes=-25', 975, 999],
    ['bytes=900-5000', 900, 999], // an end past the blob is clipped to its last byte
  ] as const) {
    it(`Range: ${range} answers 206 with Content-Range and exactly those bytes`, async () => {
      const response = await getRange(range);
      assert.equal(response.status, 206);
      assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/1000`);
      assert.equal(response.headers.get('content-length'), String(end - start + 1));
      assert.deepEqual(await bodyOf(response), bytes.subarray(start, end + 1));
    });
  }

  it('HEAD with a Range answers 206 with Content-Range', async () => {
    const response = await getRange('bytes=0-9', 'HEAD');
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), 'bytes 0-9/1000');
    assert.equal(response.headers.get('content-length'), '10');
  });

  for (const range of ['bytes=1000-', 'bytes=2000-3000', 'bytes=50-10', 'bytes=-0']) {
    it(`an unsatisfiable Range (${range}) answers 416 naming the size`, async () => {
      const response = await getRange(range);
      assert.equal(response.status, 416, await response.text());
      assert.equal(response.headers.get('content-range'), 'bytes */1000');
    });
  }

  it('an unknown digest is 404 BLOB_UNKNOWN with the spec error body', async () => {
    const unknown = digestOf(randomBlob(10));
    const error = await expectOciError(await admin.fetch(`/v2/${repository}/blobs/${unknown}`), 404, 'BLOB_UNKNOWN');
    assert.deepEqual(error.detail, { digest: unknown });
    await expectOciError(await admin.fetch(`/v2/${repository}/blobs/${unknown}`, { method: 'HEAD' }), 404, 'BLOB_UNKNOWN');
  });

  it('a blob of another repository is not served here', async () => {
    const other = `admin/${uniqueName('other')}`;
    const foreign = await admin.pushBlob(other);
    await expectOciError(await admin.fetch(`/v2/${repository}/blobs/${foreign.digest}`), 404, 'BLOB_UNKNOWN');
    assert.equal(await admin.blobStatus(other, foreign.digest), 200);
  });

  it('an invalid digest is 400 DIGEST_INVALID', async () => {
    for (const bad of ['sha256:abc', 'md5:d41d8cd98f00b204e9800998ecf8427e', `sha256:${'G'.repeat(64)}`]) {
      await expectOciError(await admin.fetch(`/v2/${repository}/blobs/${bad}`), 400, 'DIGEST_INVALID');
    }
  });

  it('a method the blob endpoint does not know is 405 UNSUPPORTED', async () => {
    await expectOciError(await admin.fetch(`/v2/${repository}/blobs/${digest}`, { method: 'PUT', body: bytes }), 405, 'UNSUPPORTED');
  });

  it('DELETE answers 202, then the blob is 404 in that repository only', async () => {
    const shared = randomBlob(64);
    const elsewhere = `admin/${uniqueName('keep')}`;
    const { digest: sharedDigest } = await admin.pushBlob(repository, shared);
    await admin.pushBlob(elsewhere, shared);

    const deleted = await admin.fetch(`/v2/${repository}/blobs/${sharedDigest}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202, await deleted.text());
    await expectOciError(await admin.fetch(`/v2/${repository}/blobs/${sharedDigest}`), 404, 'BLOB_UNKNOWN');
    await expectOciError(await admin.fetch(`/v2/${repository}/blobs/${sharedDigest}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    assert.deepEqual(await bodyOf(await admin.fetch(`/v2/${elsewhere}/blobs/${sharedDigest}`)), shared);
  });
});
