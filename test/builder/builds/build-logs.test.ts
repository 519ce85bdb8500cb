import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuildLogs } from '../../../src/builder/builds/build-logs.ts';

async function collect(pieces: AsyncIterable<Buffer>): Promise<string> {
  let text = '';
  for await (const piece of pieces) text += piece.toString('utf8');
  return text;
}

describe('build logs', () => {
  const dirs: string[] = [];
  const logsIn = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-logs-'));
    dirs.push(dir);
    return new BuildLogs(dir);
  };
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  it('a follower gets what was written before it came, then every piece live, and ends with the log', async () => {
    const logs = await logsIn();
    const writer = await logs.open('bd-1', (text) => text);
    writer.write('STEP 1/2: FROM busybox\n');
    const followed = collect(logs.follow('bd-1', new AbortController().signal));
    await new Promise((resolve) => setImmediate(resolve));
    writer.write('STEP 2/2: RUN true\n');
    writer.write('done\n');
    writer.close();
    assert.equal(await followed, 'STEP 1/2: FROM busybox\nSTEP 2/2: RUN true\ndone\n');
    assert.equal((await logs.read('bd-1')).toString(), 'STEP 1/2: FROM busybox\nSTEP 2/2: RUN true\ndone\n');
  });

  it('following an ended (or unknown) build returns the stored log at once', async () => {
    const logs = await logsIn();
    const writer = await logs.open('bd-2', (text) => text);
    writer.write('all of it\n');
    writer.close();
    assert.equal(await collect(logs.follow('bd-2', new AbortController().signal)), 'all of it\n');
    assert.equal(await collect(logs.follow('bd-unknown', new AbortController().signal)), '');
  });

  it('a follower that goes away stops without ending the log', async () => {
    const logs = await logsIn();
    const writer = await logs.open('bd-3', (text) => text);
    const controller = new AbortController();
    const followed = collect(logs.follow('bd-3', controller.signal));
    writer.write('first\n');
    await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    assert.equal(await followed, 'first\n');
    writer.write('second\n');
    writer.close();
    assert.equal((await logs.read('bd-3')).toString(), 'first\nsecond\n');
  });

  it('secrets are redacted before they reach the file', async () => {
    const logs = await logsIn();
    const writer = await logs.open('bd-4', (text) => text.split('s3cret').join('****'));
    writer.write('login with s3cret\n');
    writer.close();
    assert.equal((await logs.read('bd-4')).toString(), 'login with ****\n');
  });
});
