import { freePort } from '../support/processes.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { base64, inlineContext, pushBusyboxImage, waitForBuild, waveRequest } from '../support/build-requests.ts';
import { removeDir, scratchDir } from '../support/containers.ts';

describe('builds survive a restart of Berth', () => {
  let dataDir: string;
  let berth: TestBerth | undefined;

  before(async () => {
    dataDir = await scratchDir('builder-restart');
  });
  after(async () => {
    await berth?.close();
    await removeDir(dataDir);
  });

  it('a running and a pending build are re-queued at the next start and then succeed', async () => {
    // The Dockerfile names the base image by Berth's address, so both runs listen on the same port.
    const config = { server: { port: await freePort() }, builder: { executor: 'buildah' as const, concurrency: 1 } };
    berth = await startBerth({ dataDir, config });
    const base = await pushBusyboxImage(berth, 'admin/busybox:1', 'restart');
    const request = async (n: number) => {
      const context = await inlineContext({ 'n.txt': `${n}\n` });
      const body = { containerFile: base64(`FROM ${base}\nCOPY n.txt /n.txt\nRUN sleep 2\n`), buildContext: context, buildRepository: `${berth!.host}/admin/restart` };
      return (await waveRequest<{ buildId: string }>(berth!, body)).body.buildId;
    };
    const running = await request(1);
    const pending = await request(2);
    for (;;) {
      const state = await berth.api<{ build: { status: string } }>('GET', `/api/builds/${running}`);
      if (state.body.build.status === 'building') break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await berth.close({ keepData: true });

    berth = await startBerth({ dataDir, config });
    for (const id of [running, pending]) {
      const record = await waitForBuild(berth, id);
      assert.equal(record.status, 'succeeded', JSON.stringify(record));
    }
    const log = await berth.api('GET', `/api/builds/${running}`);
    assert.equal((log.body as { build: { status: string } }).build.status, 'succeeded');
    const text = await (await fetch(`${berth.url}/api/builds/${running}/logs`, { headers: { Authorization: `Bearer ${berth.adminToken}` } })).text();
    assert.match(text, /shutting down; the build will run again/);
    assert.equal(text.match(/^\[berth\] build /gm)?.length, 2, 'it ran twice, the first run stopped by the shutdown');
  });
});
