import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { augmentErrorCodes } from '../../src/api/image-routes.ts';
import { augmentErrorKinds } from '../../src/builder/augment/augment-errors.ts';
import { basic, startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { assertSameCodes, documentedCodes } from '../support/doc-tables.ts';
import { ociReference, writeOciLayout } from '../support/oci-image.ts';
import { tarOf } from '../support/tar-archives.ts';

const docs = new URL('../../docs/builder.md', import.meta.url);
const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

interface ErrorBody {
  error: { code: string; message: string };
}

describe('POST /api/images/augment', () => {
  let berth: TestBerth;
  let scratch: string;

  /** Pushes bytes as a blob of `repository` with a monolithic OCI upload, as the CLI's client would. */
  const pushBlob = async (repository: string, bytes: Buffer, auth = basic('admin', berth.adminToken)) => {
    const digest = sha256(bytes);
    const response = await fetch(`${berth.url}/v2/${repository}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { Authorization: auth }, body: new Uint8Array(bytes) });
    assert.equal(response.status, 201, await response.text());
    return digest;
  };
  const augment = <T>(body: Record<string, unknown>, token?: string) => berth.api<T>('POST', '/api/images/augment', { source: 'admin/base:1', target: 'admin/out:1', ...body }, token);

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('api-augment');
    const layout = await writeOciLayout({ dir: join(scratch, 'base'), layers: 1, layerBytes: 4096 });
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', creds('admin', berth.adminToken), ociReference(layout), `docker://${berth.host}/admin/base:1`]);
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('augments with a pushed tar+gzip layer and answers with the new image', async () => {
    const tar = await tarOf({ 'etc/added': 'added\n' });
    const layer = await pushBlob('admin/out', gzipSync(tar));
    const { status, body } = await augment<Record<string, unknown>>({ source: `${berth.host}/admin/base:1`, layers: [{ digest: layer }], env: ['A=1'], workdir: '/srv' });
    assert.equal(status, 201, JSON.stringify(body));
    assert.deepEqual(Object.keys(body).sort(), ['digest', 'mediaType', 'mountedLayers', 'platforms', 'skipped', 'target', 'uploadedLayers']);
    assert.equal(body.target, 'admin/out:1');
    assert.deepEqual(body.uploadedLayers, [layer]);
    assert.deepEqual((body.platforms as Array<{ platform: string }>).map((p) => p.platform), ['linux/amd64']);
    const served = await fetch(`${berth.url}/v2/admin/out/manifests/1`, { headers: { Authorization: basic('admin', berth.adminToken) } });
    assert.equal(served.headers.get('docker-content-digest'), body.digest);
  });

  it('answers each refusal with its status and code', async () => {
    const apiOnly = await berth.user('scoped', ['api']);
    const notTar = await pushBlob('admin/out', Buffer.from('#!/bin/sh\necho not a tar\n'.repeat(40)));
    const refusals: Array<[Record<string, unknown>, number, string, RegExp, string?]> = [
      [{ source: 'admin/missing:1', env: ['A=1'] }, 404, 'SOURCE_UNKNOWN', /source image admin\/missing:1 not found/],
      [{ env: ['oops'] }, 400, 'INVALID_REQUEST', /"oops" must look like KEY=VALUE/],
      [{ layers: [{ digest: 'sha256:abc' }] }, 400, 'INVALID_REQUEST', /layers\.0\.digest: must be a digest/],
      [{ layers: [{ digest: sha256(Buffer.from('never pushed')) }] }, 400, 'LAYER_NOT_FOUND', /push it there first/],
      [{ layers: [{ digest: notTar }] }, 400, 'LAYER_INVALID', /neither a tar archive nor a gzip-compressed one/],
      [{ source: 'registry.example:5000/admin/base:1', env: ['A=1'] }, 400, 'INVALID_REQUEST', /names registry registry\.example:5000, not this Berth/],
      [{ env: ['A=1'], extra: true }, 400, 'INVALID_REQUEST', /Unrecognized key/i],
      [{ env: ['A=1'] }, 403, 'DENIED', /pull on admin\/base is not allowed for scoped/, apiOnly],
    ];
    for (const [request, status, code, message, token] of refusals) {
      const { status: actual, body } = await augment<ErrorBody>(request, token);
      assert.equal(actual, status, JSON.stringify(body));
      assert.equal(body.error.code, code);
      assert.match(body.error.message, message);
    }
    const anonymous = await fetch(`${berth.url}/api/images/augment`, { method: 'POST', body: '{}' });
    assert.equal(anonymous.status, 401);
  });

  it('an immutable target tag is the registry\'s own TagImmutable refusal', async () => {
    assert.equal((await augment({ target: 'admin/frozen:1', env: ['A=1'] })).status, 201);
    const ecr = await fetch(`${berth.url}/ecr/`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${berth.adminToken}`, 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'AmazonEC2ContainerRegistry_V20150921.PutImageTagMutability' },
      body: JSON.stringify({ repositoryName: 'frozen', imageTagMutability: 'IMMUTABLE' }),
    });
    assert.equal(ecr.status, 200, await ecr.text());
    const { status, body } = await augment<ErrorBody>({ target: 'admin/frozen:1', env: ['A=2'] });
    assert.equal(status, 400);
    assert.equal(body.error.code, 'TagImmutable');
  });
});

// Every code the augmentation API can send is documented, with its status, and the docs invent none.
describe('augmentation error codes in docs/builder.md', () => {
  it('lists exactly the codes of augmentErrorCodes, each with its status', async () => {
    const documented = await documentedCodes(docs, 'Augmentation errors');
    assert.deepEqual(Object.keys(augmentErrorCodes).sort(), [...augmentErrorKinds].sort());
    const defined = Object.values(augmentErrorCodes);
    assertSameCodes(documented.map((row) => row.code), [...defined.map((d) => d.code), 'TagImmutable'], 'docs/builder.md');
    for (const { code, second } of documented) {
      const status = defined.find((d) => d.code === code)?.status ?? 400;
      assert.equal(second, String(status), `status of ${code}`);
    }
  });
});
