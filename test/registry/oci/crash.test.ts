import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request, type ClientRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, afterEach, describe, it } from 'node:test';
import { adminToken, startBerth, type TestBerth } from '../../support/berth.ts';
import { adminClient, bodyOf, digestOf, expectOciError, randomBlob, uniqueName, type OciClient } from './support.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const startupLimitMs = 60_000;

interface BerthProcess {
  url: string;
  adminToken: string;
  child: ChildProcess;
  exited: Promise<unknown>;
}

/** The environment for a child Berth: ours without BERTH_* (the server rejects unknown ones), plus the admin token. */
function childEnvironment(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('BERTH_')));
  return { ...env, BERTH_ADMIN_TOKEN: adminToken };
}

/** Runs `berth up` as its own process on `dataDir` and resolves once it prints its URL. */
function spawnBerth(dataDir: string): Promise<BerthProcess> {
  const child = spawn(process.execPath, ['bin/berth.js', 'up', '--port', '0', '--data', dataDir], {
    cwd: repositoryRoot,
    env: childEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let output = '';
  return new Promise((resolve, reject) => {
    // A server that never comes up must fail the test, not hang it.
    const startup = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth up printed no URL within ${startupLimitMs} ms:\n${output}`));
    }, startupLimitMs);
    const onData = (data: Buffer) => {
      output += data.toString();
      const match = /Berth is up at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (!match) return;
      clearTimeout(startup);
      resolve({ url: match[1]!, adminToken, child, exited });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
    void exited.then((code) => {
      clearTimeout(startup);
      reject(new Error(`berth up exited (${String(code)}) before it was up:\n${output}`));
    });
  });
}

async function killHard(berth: BerthProcess): Promise<void> {
  if (berth.child.exitCode === null && berth.child.signalCode === null) berth.child.kill('SIGKILL');
  await berth.exited;
}

/** Polls `check` until it holds: for server-side effects of a request that is still open. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (await check()) return;
    await sleep(20);
  }
  assert.fail(`gave up waiting until ${what}`);
}

/**
 * A PATCH that declares `declared` bytes from `start` but sends only `sent`, then stays open:
 * a client stalled (or about to vanish) in the middle of a chunk.
 */
function stalledPatch(client: OciClient, location: string, start: number, declared: number, sent: Buffer): ClientRequest {
  const req = request(client.url(location), {
    method: 'PATCH',
    headers: {
      Authorization: client.authorization!,
      'Content-Type': 'application/octet-stream',
      'Content-Range': `${start}-${start + declared - 1}`,
      'Content-Length': declared,
    },
  });
  req.on('error', () => undefined); // the connection is cut on purpose
  req.write(sent);
  return req;
}

/** Bytes the upload holds, from GET on its location (Range: 0-<last byte>). */
async function uploadedBytes(client: OciClient, location: string): Promise<number> {
  const response = await client.fetch(location);
  assert.equal(response.status, 204, `upload status: ${response.status}`);
  const range = /^0-(\d+)$/.exec(response.headers.get('range') ?? '');
  assert.ok(range, `bad Range header ${response.headers.get('range')}`);
  return Number(range[1]) + 1;
}

describe('OCI uploads survive crashes and dropped connections', () => {
  const started: BerthProcess[] = [];
  const dataDirs: string[] = [];
  let inProcess: TestBerth | undefined;

  afterEach(async () => {
    for (const berth of started.splice(0)) await killHard(berth);
    await inProcess?.close();
    inProcess = undefined;
  });
  after(async () => {
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
  });

  async function freshDataDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'berth-crash-'));
    dataDirs.push(dir);
    return dir;
  }

  async function launch(dataDir: string): Promise<OciClient> {
    const berth = await spawnBerth(dataDir);
    started.push(berth);
    return adminClient(berth);
  }

  /** Location as a path: the restarted server listens on another port. */
  const pathOf = (location: string) => new URL(location).pathname;

  const chunk = 100_000;
  const blob = randomBlob(3 * chunk);
  const digest = digestOf(blob);

  /**
   * Starts an upload with one whole chunk, then a second chunk that stalls after half its bytes,
   * and waits until the server has staged some of them. Returns the upload path and how many
   * bytes it holds.
   */
  async function uploadStalledMidChunk(client: OciClient, repository: string): Promise<string> {
    const location = pathOf(await client.startUpload(repository));
    assert.equal((await client.patchChunk(location, blob.subarray(0, chunk), 0)).status, 202);
    stalledPatch(client, location, chunk, chunk, blob.subarray(chunk, chunk + chunk / 2));
    await until('part of the stalled chunk is staged', async () => (await uploadedBytes(client, location)) > chunk);
    return location;
  }

  it('kill -9 during a chunked upload: after a restart the upload resumes where the bytes stopped', async () => {
    const dataDir = await freshDataDir();
    const repository = `admin/${uniqueName('crash')}`;
    const first = await launch(dataDir);
    const location = await uploadStalledMidChunk(first, repository);
    await killHard(started.pop()!);

    const second = await launch(dataDir);
    const arrived = await uploadedBytes(second, location);
    assert.ok(arrived > chunk && arrived <= chunk + chunk / 2, `after the crash the upload holds ${arrived} bytes`);
    const resumed = await second.patchChunk(location, blob.subarray(arrived), arrived);
    assert.equal(resumed.status, 202, await resumed.text());
    assert.equal(resumed.headers.get('range'), `0-${blob.length - 1}`);
    const completed = await second.completeUpload(location, digest);
    assert.equal(completed.status, 201, await completed.text());

    const served = await second.fetch(`/v2/${repository}/blobs/${digest}`);
    assert.equal(served.status, 200);
    assert.equal(served.headers.get('docker-content-digest'), digest);
    assert.equal(digestOf(await bodyOf(served)), digest);
  });

  it('no partial blob is ever served: not while a chunk stalls, not after a crash, not after a wrong digest', async () => {
    const dataDir = await freshDataDir();
    const repository = `admin/${uniqueName('partial')}`;
    const first = await launch(dataDir);
    const location = await uploadStalledMidChunk(first, repository);
    assert.equal(await first.blobStatus(repository, digest), 404);
    await killHard(started.pop()!);

    const second = await launch(dataDir);
    const arrived = await uploadedBytes(second, location);
    const staged = blob.subarray(0, arrived);
    assert.equal(await second.blobStatus(repository, digest), 404);
    assert.equal(await second.blobStatus(repository, digestOf(staged)), 404, 'the staged prefix is not a blob');
    // Completing with the whole blob's digest before all its bytes arrived must fail.
    await expectOciError(await second.completeUpload(location, digest), 400, 'DIGEST_INVALID');
    assert.equal(await second.blobStatus(repository, digest), 404);
    assert.equal(await uploadedBytes(second, location), arrived, 'a refused completion keeps the upload');
  });

  it('a client that drops its connection mid-PATCH leaves the upload resumable', async () => {
    inProcess = await startBerth();
    const client = adminClient(inProcess);
    const repository = `admin/${uniqueName('dropped')}`;
    const location = pathOf(await client.startUpload(repository));
    const stalled = stalledPatch(client, location, 0, blob.length, blob.subarray(0, chunk));
    await until('part of the dropped chunk is staged', async () => (await uploadedBytes(client, location)) > 0);
    stalled.destroy();

    // The server notices the drop asynchronously; until then the upload is busy (BLOB_UPLOAD_INVALID).
    let resumed: Response | undefined;
    await until('the upload accepts the rest', async () => {
      const arrived = await uploadedBytes(client, location);
      resumed = await client.patchChunk(location, blob.subarray(arrived), arrived);
      if (resumed.status === 202) return true;
      const text = await resumed.text();
      assert.match(text, /busy/, `resuming failed: ${resumed.status} ${text}`);
      return false;
    });
    assert.equal(resumed!.headers.get('range'), `0-${blob.length - 1}`);
    const completed = await client.completeUpload(location, digest);
    assert.equal(completed.status, 201, await completed.text());
    assert.equal(digestOf(await bodyOf(await client.fetch(`/v2/${repository}/blobs/${digest}`))), digest);
  });
});
