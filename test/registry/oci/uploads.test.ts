import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import {
  adminClient,
  bodyOf,
  createWorkspace,
  digestOf,
  expectOciError,
  randomBlob,
  uniqueName,
  userClient,
  type OciClient,
} from './support.ts';

// end-4a/4b (POST), end-5 (PATCH), end-6 (PUT), end-13 (GET status), end-11 (mount), and DELETE of an upload.
describe('OCI blob uploads', () => {
  let berth: TestBerth;
  let admin: OciClient;

  before(async () => {
    berth = await startBerth();
    admin = adminClient(berth);
  });
  after(() => berth?.close());

  const newRepository = () => `admin/${uniqueName('up')}`;

  async function expectServed(client: OciClient, repository: string, digest: string, bytes: Buffer): Promise<void> {
    const response = await client.fetch(`/v2/${repository}/blobs/${digest}`);
    assert.equal(response.status, 200, `blob ${digest} not served in ${repository}`);
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.deepEqual(await bodyOf(response), bytes);
  }

  async function expectAbsent(client: OciClient, repository: string, digest: string): Promise<void> {
    assert.equal(await client.blobStatus(repository, digest), 404, `${digest} is visible in ${repository}`);
  }

  async function expectBlobCreated(response: Response, repository: string, digest: string): Promise<void> {
    assert.equal(response.status, 201, await response.text());
    assert.equal(response.headers.get('docker-content-digest'), digest);
    assert.equal(admin.url(response.headers.get('location') ?? ''), admin.url(`/v2/${repository}/blobs/${digest}`));
  }

  it('monolithic: POST then PUT with the whole body creates the blob', async () => {
    const repository = newRepository();
    const bytes = randomBlob(5000);
    const digest = digestOf(bytes);
    const location = await admin.startUpload(repository);
    await expectBlobCreated(await admin.completeUpload(location, digest, bytes), repository, digest);
    await expectServed(admin, repository, digest, bytes);
  });

  it('single POST with ?digest= creates the blob in one request (201)', async () => {
    const repository = newRepository();
    const bytes = randomBlob(3000);
    const digest = digestOf(bytes);
    const response = await admin.fetch(`/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: bytes,
    });
    await expectBlobCreated(response, repository, digest);
    await expectServed(admin, repository, digest, bytes);
  });

  it('single POST with a wrong ?digest= is DIGEST_INVALID and creates nothing', async () => {
    const repository = newRepository();
    const bytes = randomBlob(300);
    const claimed = digestOf(randomBlob(300));
    const response = await admin.fetch(`/v2/${repository}/blobs/uploads/?digest=${claimed}`, { method: 'POST', body: bytes });
    await expectOciError(response, 400, 'DIGEST_INVALID');
    await expectAbsent(admin, repository, claimed);
    await expectAbsent(admin, repository, digestOf(bytes));
  });

  it('chunked: PATCHes with Content-Range answer 202 with Range and Location, then PUT commits', async () => {
    const repository = newRepository();
    const bytes = randomBlob(3000);
    const digest = digestOf(bytes);
    let location = await admin.startUpload(repository);
    for (const start of [0, 1000, 2000]) {
      const response = await admin.patchChunk(location, bytes.subarray(start, start + 1000), start);
      assert.equal(response.status, 202, await response.text());
      assert.equal(response.headers.get('range'), `0-${start + 999}`);
      assert.ok(response.headers.get('docker-upload-uuid'));
      location = response.headers.get('location') ?? assert.fail('PATCH returned no Location');
    }
    await expectBlobCreated(await admin.completeUpload(location, digest), repository, digest);
    await expectServed(admin, repository, digest, bytes);
  });

  it('chunked: the PUT may carry the last chunk', async () => {
    const repository = newRepository();
    const bytes = randomBlob(2000);
    const digest = digestOf(bytes);
    const location = await admin.startUpload(repository);
    assert.equal((await admin.patchChunk(location, bytes.subarray(0, 1200), 0)).status, 202);
    await expectBlobCreated(await admin.completeUpload(location, digest, bytes.subarray(1200)), repository, digest);
    await expectServed(admin, repository, digest, bytes);
  });

  it('an out-of-order chunk is 416 and leaves the upload as it was', async () => {
    const repository = newRepository();
    const bytes = randomBlob(2000);
    const location = await admin.startUpload(repository);
    assert.equal((await admin.patchChunk(location, bytes.subarray(0, 1000), 0)).status, 202);
    const skipped = await admin.patchChunk(location, bytes.subarray(1500), 1500);
    assert.equal(skipped.status, 416, await skipped.text());
    const repeated = await admin.patchChunk(location, bytes.subarray(0, 1000), 0);
    assert.equal(repeated.status, 416, await repeated.text());
    const status = await admin.fetch(location);
    assert.equal(status.headers.get('range'), '0-999');
    assert.equal((await admin.patchChunk(location, bytes.subarray(1000), 1000)).status, 202);
    await expectBlobCreated(await admin.completeUpload(location, digestOf(bytes)), repository, digestOf(bytes));
  });

  it('a chunk whose Content-Range and body length disagree is SIZE_INVALID', async () => {
    const location = await admin.startUpload(newRepository());
    const response = await admin.fetch(location, { method: 'PATCH', headers: { 'Content-Range': '0-99' }, body: randomBlob(50) });
    await expectOciError(response, 400, 'SIZE_INVALID');
  });

  it('GET on an upload answers 204 with Range and Location telling how much arrived', async () => {
    const location = await admin.startUpload(newRepository());
    assert.equal((await admin.patchChunk(location, randomBlob(777), 0)).status, 202);
    const response = await admin.fetch(location);
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('range'), '0-776');
    assert.equal(admin.url(response.headers.get('location') ?? ''), admin.url(location));
    assert.ok(response.headers.get('docker-upload-uuid'));
  });

  it('streamed: a PATCH without Content-Range or Content-Length appends the whole stream', async () => {
    const repository = newRepository();
    const parts = [randomBlob(4000), randomBlob(10), randomBlob(70_000)];
    const bytes = Buffer.concat(parts);
    const location = await admin.startUpload(repository);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    });
    const response = await admin.fetch(location, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: stream,
    });
    assert.equal(response.status, 202, await response.text());
    assert.equal(response.headers.get('range'), `0-${bytes.length - 1}`);
    const next = response.headers.get('location') ?? assert.fail('no Location');
    await expectBlobCreated(await admin.completeUpload(next, digestOf(bytes)), repository, digestOf(bytes));
    await expectServed(admin, repository, digestOf(bytes), bytes);
  });

  it('DELETE cancels an upload (204); afterwards it is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const location = await admin.startUpload(newRepository());
    assert.equal((await admin.patchChunk(location, randomBlob(100), 0)).status, 202);
    assert.equal((await admin.fetch(location, { method: 'DELETE' })).status, 204);
    await expectOciError(await admin.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await admin.patchChunk(location, randomBlob(10), 100), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await admin.fetch(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('a PUT with the wrong digest is DIGEST_INVALID and no blob becomes visible', async () => {
    const repository = newRepository();
    const bytes = randomBlob(1234);
    const claimed = digestOf(randomBlob(1234));
    const location = await admin.startUpload(repository);
    await expectOciError(await admin.completeUpload(location, claimed, bytes), 400, 'DIGEST_INVALID');
    await expectAbsent(admin, repository, claimed);
    await expectAbsent(admin, repository, digestOf(bytes));
  });

  it('a PUT with a malformed digest is DIGEST_INVALID', async () => {
    const location = await admin.startUpload(newRepository());
    await expectOciError(await admin.completeUpload(location, 'sha256:nothex', randomBlob(10)), 400, 'DIGEST_INVALID');
    await expectOciError(await admin.fetch(location, { method: 'PUT', body: randomBlob(10) }), 400, 'DIGEST_INVALID');
  });

  it('a sha512 digest is accepted and the blob is served under it', async () => {
    const repository = newRepository();
    const bytes = randomBlob(2048);
    const digest = digestOf(bytes, 'sha512');
    const location = await admin.startUpload(repository);
    assert.equal((await admin.patchChunk(location, bytes.subarray(0, 1000), 0)).status, 202);
    await expectBlobCreated(await admin.completeUpload(location, digest, bytes.subarray(1000)), repository, digest);
    await expectServed(admin, repository, digest, bytes);
  });

  it('an upload id belongs to its repository: from another one it is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    const owner = newRepository();
    const other = newRepository();
    await admin.pushBlob(other); // `other` exists, so only the upload id can be unknown
    const location = await admin.startUpload(owner);
    const id = new URL(location).pathname.split('/').pop()!;
    const foreign = `/v2/${other}/blobs/uploads/${id}`;
    const bytes = randomBlob(10);
    await expectOciError(await admin.fetch(foreign), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await admin.patchChunk(foreign, bytes, 0), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await admin.completeUpload(foreign, digestOf(bytes), bytes), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectOciError(await admin.fetch(foreign, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    assert.equal((await admin.fetch(location)).status, 204, 'the upload is still alive in its own repository');
  });

  describe('cross-repository mount', () => {
    let alice: OciClient;
    let bob: OciClient;
    const team = uniqueName('team');

    before(async () => {
      alice = await userClient(berth, 'alice');
      bob = await userClient(berth, 'bob');
      await createWorkspace(berth, team);
      await berth.role(team, 'alice', 'view');
    });

    const mount = (client: OciClient, repository: string, digest: string, from?: string) =>
      client.fetch(`/v2/${repository}/blobs/uploads/?mount=${digest}${from ? `&from=${from}` : ''}`, { method: 'POST' });

    it('?mount=&from= links the blob without sending it (201)', async () => {
      const source = newRepository();
      const target = newRepository();
      const blob = await admin.pushBlob(source);
      await expectBlobCreated(await mount(admin, target, blob.digest, source), target, blob.digest);
      await expectServed(admin, target, blob.digest, blob.bytes);
    });

    it('?mount= without from mounts from any repository the caller can read (201)', async () => {
      const blob = await admin.pushBlob(`${team}/${uniqueName('src')}`);
      const target = `alice/${uniqueName('auto')}`;
      const response = await mount(alice, target, blob.digest);
      assert.equal(response.status, 201, await response.text());
      await expectServed(alice, target, blob.digest, blob.bytes);
    });

    it("does not mount from a workspace the caller cannot read: an ordinary upload starts (202)", async () => {
      const secret = `bob/${uniqueName('private')}`;
      const blob = await bob.pushBlob(secret);
      for (const from of [secret, undefined]) {
        const target = `alice/${uniqueName('nomount')}`;
        const response = await mount(alice, target, blob.digest, from);
        assert.equal(response.status, 202, await response.text());
        assert.match(response.headers.get('location') ?? '', new RegExp(`/v2/${target}/blobs/uploads/`));
        await expectAbsent(alice, target, blob.digest);
      }
    });

    it('a bearer token mounts automatically only from repositories it was granted pull on', async () => {
      const source = `alice/${uniqueName('src')}`;
      const blob = await alice.pushBlob(source);
      const target = `alice/${uniqueName('scoped')}`;
      const tokenFor = async (scopes: string[]) => {
        const query = scopes.map((s) => `scope=${encodeURIComponent(s)}`).join('&');
        const response = await alice.fetch(`/v2/token?service=berth&${query}`);
        return `Bearer ${((await response.json()) as { token: string }).token}`;
      };
      const pushOnly = alice.as(await tokenFor([`repository:${target}:pull,push`]));
      assert.equal((await mount(pushOnly, target, blob.digest)).status, 202, 'the token was never granted pull on the source');
      const withSource = alice.as(await tokenFor([`repository:${target}:pull,push`, `repository:${source}:pull`]));
      assert.equal((await mount(withSource, target, blob.digest)).status, 201);
    });

    it('mounting a digest nobody holds starts an ordinary upload (202)', async () => {
      const target = newRepository();
      const response = await mount(admin, target, digestOf(randomBlob(16)), newRepository());
      assert.equal(response.status, 202, await response.text());
      assert.ok(response.headers.get('location'));
    });
  });
});
