import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { base64, pushBusyboxImage, waitForBuild, waveRequest } from '../support/build-requests.ts';

describe('builder timeout', () => {
  let berth: TestBerth;

  before(async () => {
    berth = await startBerth({ config: { builder: { executor: 'buildah', timeoutS: 10 } } });
  });
  after(() => berth?.close());

  it('a build running longer than builder.timeoutS is stopped and failed, saying so', { timeout: 120_000 }, async () => {
    const base = await pushBusyboxImage(berth, 'admin/busybox:1', 'timeout');
    const answer = await waveRequest<{ buildId: string }>(berth, { containerFile: base64(`FROM ${base}\nRUN sleep 300\n`), buildRepository: `${berth.host}/admin/slow` });
    const record = await waitForBuild(berth, answer.body.buildId);
    assert.equal(record.status, 'failed');
    assert.equal(record.exitStatus, 124);
    assert.equal((record.errorReport as { message: string }).message, 'build timed out after 10 s');
  });
});
