import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import {
  UpstreamNotFound,
  UpstreamProtocolError,
  UpstreamRateLimited,
  UpstreamUnauthorized,
  UpstreamUnreachable,
} from '../../../src/registry/pullthrough/upstream-errors.ts';
import { UpstreamRegistry } from '../../../src/registry/pullthrough/upstream-registry.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { removeDir, scratchDir } from '../../support/containers.ts';
import { startCountingProxy, startDistribution, type CountingProxy, type Distribution } from '../../support/distribution.ts';
import { mediaTypes, ociReference, writeOciLayout, type GeneratedLayout } from '../../support/oci-image.ts';
import { run } from '../../support/processes.ts';

const manifestTypes = [mediaTypes.manifest, mediaTypes.index, 'application/vnd.docker.distribution.manifest.v2+json'];
const missingDigest = `sha256:${'0'.repeat(64)}`;
const manifestRequests = { path: /\/manifests\// };

const blobPath = (layout: GeneratedLayout, digest: string) => join(layout.dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

async function readAll(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

describe('UpstreamRegistry against an anonymous CNCF distribution', () => {
  let scratch: string;
  let layout: GeneratedLayout;
  let upstream: Distribution;
  let client: UpstreamRegistry;

  before(async () => {
    scratch = await scratchDir('upstream-anonymous');
    layout = await writeOciLayout({ dir: join(scratch, 'image'), tag: '1', layers: 2, layerBytes: 384 * 1024 });
    upstream = await startDistribution();
    await upstream.push(layout, 'library/app:1');
    client = new UpstreamRegistry({ url: upstream.url });
  });
  after(async () => {
    await upstream?.stop();
    await removeDir(scratch);
  });

  it('pings the registry', async () => {
    await client.ping();
  });

  it('HEADs a manifest by tag and by digest without fetching it', async () => {
    const gets = upstream.count({ method: 'GET', ...manifestRequests });
    const expected = { digest: layout.top.digest, mediaType: mediaTypes.manifest, size: layout.top.size };
    assert.deepEqual(await client.headManifest('library/app', '1', manifestTypes), expected);
    assert.deepEqual(await client.headManifest('library/app', layout.top.digest, manifestTypes), expected);
    assert.equal(upstream.count({ method: 'GET', ...manifestRequests }), gets, 'only HEAD requests reached the upstream');
  });

  it('gets a manifest by tag and by digest, byte for byte', async () => {
    const stored = await readFile(blobPath(layout, layout.top.digest));
    for (const reference of ['1', layout.top.digest]) {
      const manifest = await client.getManifest('library/app', reference, manifestTypes);
      assert.ok(manifest);
      assert.deepEqual(manifest.bytes, stored);
      assert.equal(manifest.digest, layout.top.digest);
      assert.equal(manifest.mediaType, mediaTypes.manifest);
    }
  });

  it('answers undefined for a tag, digest or repository the upstream does not have', async () => {
    assert.equal(await client.headManifest('library/app', 'nope', manifestTypes), undefined);
    assert.equal(await client.getManifest('library/app', 'nope', manifestTypes), undefined);
    assert.equal(await client.getManifest('library/app', missingDigest, manifestTypes), undefined);
    assert.equal(await client.headManifest('library/nothing-here', '1', manifestTypes), undefined);
  });

  it('streams a blob with its size and exact bytes', async () => {
    const layer = layout.images[0]!.layers[1]!;
    const blob = await client.getBlob('library/app', layer.digest);
    assert.equal(blob.size, layer.size);
    const chunks: Buffer[] = [];
    for await (const chunk of blob.body) chunks.push(Buffer.from(chunk));
    assert.ok(chunks.length > 1, 'the body arrives in several chunks, not as one buffer');
    const bytes = Buffer.concat(chunks);
    assert.equal(sha256(bytes), layer.digest);
    assert.deepEqual(bytes, await readFile(blobPath(layout, layer.digest)));
  });

  it('rejects a blob the upstream does not have with UpstreamNotFound', async () => {
    await assert.rejects(client.getBlob('library/app', missingDigest), UpstreamNotFound);
  });

  it('stops a blob download when the caller aborts, with the caller’s reason', async () => {
    const layer = layout.images[0]!.layers[0]!;
    const aborter = new AbortController();
    const blob = await client.getBlob('library/app', layer.digest, aborter.signal);
    const reason = new Error('client went away');
    await assert.rejects(
      (async () => {
        for await (const chunk of blob.body) {
          assert.ok(chunk.length > 0);
          aborter.abort(reason);
        }
      })(),
      (error) => error === reason,
    );
  });
});

describe('UpstreamRegistry against a CNCF distribution behind htpasswd', () => {
  const credentials = { username: 'puller', password: 'correct horse battery' };
  let scratch: string;
  let layout: GeneratedLayout;
  let upstream: Distribution;

  before(async () => {
    scratch = await scratchDir('upstream-htpasswd');
    layout = await writeOciLayout({ dir: join(scratch, 'image'), tag: '1', layers: 1, layerBytes: 128 * 1024 });
    upstream = await startDistribution({ htpasswd: credentials });
    await upstream.push(layout, 'team/app:1');
  });
  after(async () => {
    await upstream?.stop();
    await removeDir(scratch);
  });

  it('answers the Basic challenge once, then sends the credentials up front', async () => {
    const client = new UpstreamRegistry({ url: upstream.url, credentials });
    const refusedBefore = upstream.count((r) => r.status === 401);
    await client.ping();
    const manifest = await client.getManifest('team/app', '1', manifestTypes);
    assert.equal(manifest?.digest, layout.top.digest);
    const layer = layout.images[0]!.layers[0]!;
    assert.equal(sha256(await readAll((await client.getBlob('team/app', layer.digest)).body)), layer.digest);
    assert.equal(upstream.count((r) => r.status === 401) - refusedBefore, 1, 'only the first, anonymous request was refused');
  });

  it('says UpstreamUnauthorized for a wrong password or no credentials', async () => {
    const wrong = new UpstreamRegistry({ url: upstream.url, credentials: { ...credentials, password: 'wrong' } });
    await assert.rejects(wrong.ping(), UpstreamUnauthorized);
    await assert.rejects(wrong.headManifest('team/app', '1', manifestTypes), UpstreamUnauthorized);
    const anonymous = new UpstreamRegistry({ url: upstream.url });
    await assert.rejects(anonymous.ping(), /requires credentials/);
    await assert.rejects(anonymous.getBlob('team/app', layout.images[0]!.layers[0]!.digest), UpstreamUnauthorized);
  });
});

describe('UpstreamRegistry against an upstream that is not running', () => {
  it('says UpstreamUnreachable for a stopped registry', async () => {
    const upstream = await startDistribution();
    const client = new UpstreamRegistry({ url: upstream.url });
    await client.ping();
    await upstream.stop();
    await assert.rejects(client.ping(), UpstreamUnreachable);
    await assert.rejects(client.headManifest('library/app', '1', manifestTypes), UpstreamUnreachable);
    await assert.rejects(client.getBlob('library/app', missingDigest), UpstreamUnreachable);
  });
});

describe('UpstreamRegistry with the Bearer token dance (Berth as the upstream)', () => {
  let scratch: string;
  let layout: GeneratedLayout;
  let berth: TestBerth;
  let proxy: CountingProxy;
  const tokenRequests = { path: /^\/v2\/token\b/ };

  before(async () => {
    scratch = await scratchDir('upstream-bearer');
    layout = await writeOciLayout({ dir: join(scratch, 'image'), tag: '1', layers: 1, layerBytes: 128 * 1024 });
    berth = await startBerth();
    proxy = await startCountingProxy(berth.url);
    for (const repository of ['admin/upstream/private', 'admin/upstream/public']) {
      await run('skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `admin:${berth.adminToken}`, ociReference(layout), `docker://${proxy.host}/${repository}:1`]);
    }
    const published = await berth.api('PATCH', '/api/registry/repositories/admin/upstream/public', { public: true });
    assert.equal(published.status, 200);
  });
  after(async () => {
    await proxy?.close();
    await berth?.close();
    await removeDir(scratch);
  });

  it('fetches a token with the credentials and reuses it for the same scope', async () => {
    const client = new UpstreamRegistry({ url: proxy.url, credentials: { username: 'admin', password: berth.adminToken } });
    const tokensBefore = proxy.count(tokenRequests);
    const refusedBefore = proxy.count((r) => r.status === 401);
    assert.equal((await client.headManifest('admin/upstream/private', '1', manifestTypes))?.digest, layout.top.digest);
    assert.equal((await client.getManifest('admin/upstream/private', '1', manifestTypes))?.digest, layout.top.digest);
    const layer = layout.images[0]!.layers[0]!;
    assert.equal(sha256(await readAll((await client.getBlob('admin/upstream/private', layer.digest)).body)), layer.digest);
    assert.equal(proxy.count(tokenRequests) - tokensBefore, 1, 'one token for repository:admin/upstream/private:pull');
    assert.equal(proxy.count((r) => r.status === 401) - refusedBefore, 1, 'only the first, anonymous request was refused');
    const tokenRequest = proxy.requests.filter((r) => tokenRequests.path.test(r.url)).at(-1)!;
    assert.ok(tokenRequest.authorized, 'the token was asked for with the credentials');
    assert.match(decodeURIComponent(tokenRequest.url), /scope=repository:admin\/upstream\/private:pull/);

    await client.getManifest('admin/upstream/public', '1', manifestTypes);
    assert.equal(proxy.count(tokenRequests) - tokensBefore, 2, 'another scope needs another token');
  });

  it('pings with a token for the registry itself', async () => {
    const client = new UpstreamRegistry({ url: proxy.url, credentials: { username: 'admin', password: berth.adminToken } });
    await client.ping();
  });

  it('gets anonymous tokens for a public repository, and is refused a private one', async () => {
    const anonymous = new UpstreamRegistry({ url: proxy.url });
    assert.equal((await anonymous.getManifest('admin/upstream/public', '1', manifestTypes))?.digest, layout.top.digest);
    await assert.rejects(anonymous.getManifest('admin/upstream/private', '1', manifestTypes), UpstreamUnauthorized);
  });

  it('says UpstreamUnauthorized when the token server refuses the credentials', async () => {
    const wrong = new UpstreamRegistry({ url: proxy.url, credentials: { username: 'admin', password: 'berth_not-a-token' } });
    await assert.rejects(wrong.getManifest('admin/upstream/private', '1', manifestTypes), /token server .* refused the configured credentials/);
    await assert.rejects(wrong.ping(), UpstreamUnauthorized);
  });
});

/**
 * Stub HTTP servers, for what a real registry will not do on demand: redirect blobs to another
 * host, rate-limit, send an oversized or corrupt manifest, stall, or not be a registry at all.
 */
describe('UpstreamRegistry against stub registries (misbehaviour distribution cannot be made to show)', () => {
  const servers: Server[] = [];
  let scratch: string;
  let layout: GeneratedLayout;

  async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
    const server = createServer(handler);
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  before(async () => {
    scratch = await scratchDir('upstream-stubs');
    layout = await writeOciLayout({ dir: join(scratch, 'image'), tag: '1', layers: 1, layerBytes: 64 * 1024 });
  });
  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await removeDir(scratch);
  });

  it('follows a blob redirect to another host without sending our Authorization there', async () => {
    const layer = layout.images[0]!.layers[0]!;
    const storageSaw: (string | undefined)[] = [];
    const storage = await serve((req, res) => {
      storageSaw.push(req.headers.authorization);
      res.writeHead(200, { 'Content-Length': layer.size, 'Content-Type': 'application/octet-stream' });
      void pipeline(createReadStream(blobPath(layout, layer.digest)), res);
    });
    const registry = await serve((req, res) => {
      if (!req.headers.authorization) return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="stub"' }).end();
      res.writeHead(307, { Location: `${storage}/signed/${layer.digest}?expires=soon` }).end();
    });
    const client = new UpstreamRegistry({ url: registry, credentials: { username: 'u', password: 'p' } });
    const blob = await client.getBlob('library/app', layer.digest);
    assert.equal(blob.size, layer.size);
    assert.equal(sha256(await readAll(blob.body)), layer.digest);
    assert.deepEqual(storageSaw, [undefined], 'the storage host got no Authorization header');
  });

  it('says UpstreamRateLimited on 429, with Retry-After', async () => {
    const registry = await serve((_req, res) => {
      res.writeHead(429, { 'Retry-After': '42', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'pull rate limit' }] }));
    });
    const client = new UpstreamRegistry({ url: registry });
    await assert.rejects(client.headManifest('library/app', '1', manifestTypes), (error) => {
      assert.ok(error instanceof UpstreamRateLimited);
      assert.equal(error.retryAfterSeconds, 42);
      return true;
    });
    await assert.rejects(client.getManifest('library/app', '1', manifestTypes), /answered 429 .*: TOOMANYREQUESTS pull rate limit/);
  });

  it('says UpstreamUnreachable for a gateway error and for an upstream that never answers', async () => {
    const gateway = await serve((_req, res) => void res.writeHead(503).end());
    await assert.rejects(new UpstreamRegistry({ url: gateway }).ping(), UpstreamUnreachable);
    const silent = await serve(() => undefined);
    await assert.rejects(new UpstreamRegistry({ url: silent, timeoutMs: 200 }).ping(), /sent nothing for 200 ms/);
  });

  it('refuses a manifest over 4 MiB, and one that does not hash to its digest', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const registry = await serve((req, res) => {
      const body = req.url!.includes('/huge/') ? huge : Buffer.from('{"schemaVersion":2}');
      // No Content-Length for the huge one: the cap must hold while reading, too.
      const headers = { 'Content-Type': mediaTypes.manifest, ...(req.url!.includes('/huge/') ? {} : { 'Content-Length': body.length }) };
      res.writeHead(200, headers).end(body);
    });
    const client = new UpstreamRegistry({ url: registry });
    await assert.rejects(client.getManifest('library/huge', '1', manifestTypes), /larger than 4194304 bytes/);
    await assert.rejects(client.getManifest('library/app', missingDigest, manifestTypes), (error) => {
      assert.ok(error instanceof UpstreamProtocolError);
      assert.match(error.message, /does not hash to/);
      return true;
    });
  });

  it('says a server is not a registry when /v2/ is not there', async () => {
    const website = await serve((_req, res) => void res.writeHead(404, { 'Content-Type': 'text/html' }).end('<h1>not found</h1>'));
    await assert.rejects(new UpstreamRegistry({ url: website }).ping(), (error) => {
      assert.ok(error instanceof UpstreamProtocolError);
      assert.match(error.message, /is not an OCI registry/);
      return true;
    });
  });
});
