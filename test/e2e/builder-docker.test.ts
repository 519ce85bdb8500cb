import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { base64, inlineContext, pushBusyboxImage, waitForBuild, waveRequest } from '../support/build-requests.ts';
import { removeDir, scratchDir } from '../support/containers.ts';
import { startDockerd, type Dockerd } from '../support/dockerd.ts';

describe('builder with the docker engine: a Wave request built by dockerd, pulled back and run with docker', () => {
  let dockerd: Dockerd;
  let berth: TestBerth;
  let configDir: string;

  before(async () => {
    dockerd = await startDockerd();
    berth = await startBerth({ config: { builder: { executor: 'docker', dockerSocket: dockerd.host.replace(/^unix:\/\//, '') } } });
    configDir = await scratchDir('docker-config');
  });
  after(async () => {
    await berth?.close();
    await dockerd?.stop();
    await removeDir(configDir);
  });

  it('builds, pushes, runs; the same request again is cached', async () => {
    const base = await pushBusyboxImage(berth, 'admin/busybox:1', 'docker base');
    const request = {
      containerFile: base64(`FROM ${base}\nCOPY note.txt /note.txt\nRUN echo from-docker > /built.txt\nCMD ["cat", "/note.txt", "/built.txt"]\n`),
      buildContext: await inlineContext({ 'note.txt': 'context via docker\n' }),
      buildRepository: `${berth.host}/admin/docker-built`,
      freeze: true,
    };
    const first = await waveRequest<{ buildId: string; targetImage: string; cached: boolean }>(berth, request);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const record = await waitForBuild(berth, first.body.buildId);
    assert.equal(record.status, 'succeeded', JSON.stringify(record));
    assert.equal(record.format, 'DOCKER');

    const docker = (args: string[]) => dockerd.docker(args, { configDir });
    await dockerd.docker(['login', '-u', 'admin', '--password-stdin', berth.host], { configDir, input: berth.adminToken });
    await docker(['pull', first.body.targetImage]);
    const ran = await docker(['run', '--rm', '--network', 'host', first.body.targetImage]);
    assert.equal(ran.stdout, 'context via docker\nfrom-docker\n');

    const again = await waveRequest<{ cached: boolean }>(berth, request);
    assert.equal(again.body.cached, true);
  });
});
