import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { base64, inlineContext, pushBusyboxImage, waitForBuild, waveRequest } from '../support/build-requests.ts';
import { ContainerStorage, creds, skopeo } from '../support/containers.ts';

interface WaveResponse {
  requestId: string;
  buildId: string;
  targetImage: string;
  cached: boolean;
  freeze: boolean;
  succeeded?: boolean;
  message?: string;
}

describe('builder with buildah: Wave requests become images in Berth', () => {
  let berth: TestBerth;
  let base: string;
  let storage: ContainerStorage;
  const dockerfile = (extra: string) => base64(`FROM ${base}\nCOPY greeting.txt /greeting.txt\nRUN echo built > /built.txt\n${extra}`);

  before(async () => {
    berth = await startBerth({ config: { builder: { executor: 'buildah', concurrency: 2 } } });
    base = await pushBusyboxImage(berth, 'admin/busybox:1', 'base image');
    storage = await ContainerStorage.create('builder-e2e');
  });
  after(async () => {
    await storage?.remove();
    await berth?.close();
  });

  it('a Dockerfile with a build context is built, pushed, pulled back and run; the same request again is cached', async () => {
    const request = { containerFile: dockerfile('LABEL study=rnaseq\n'), buildContext: await inlineContext({ 'greeting.txt': 'hello from the context\n' }), freeze: true, buildRepository: `${berth.host}/admin/studios` };
    const first = await waveRequest<WaveResponse>(berth, request);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.match(first.body.buildId, /^bd-[0-9a-f]{16}_1$/);
    assert.match(first.body.targetImage, new RegExp(`^${berth.host}/admin/studios:[0-9a-f]{16}$`));
    assert.equal(first.body.cached, false);
    assert.equal(first.body.freeze, true);

    const record = await waitForBuild(berth, first.body.buildId);
    assert.equal(record.exitStatus, 0, JSON.stringify(record));
    assert.match(String(record.digest), /^sha256:/);

    const inspected = JSON.parse((await skopeo(['inspect', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), `docker://${first.body.targetImage}`])).stdout);
    assert.equal(inspected.Labels.study, 'rnaseq');
    assert.equal(inspected.Digest, record.digest);
    await storage.buildah(['pull', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), first.body.targetImage]);
    const container = (await storage.buildah(['from', '--pull=never', first.body.targetImage])).stdout.trim();
    const ran = await storage.buildah(['run', '--isolation=chroot', container, '--', 'cat', '/greeting.txt', '/built.txt']);
    assert.equal(ran.stdout, 'hello from the context\nbuilt\n');

    const again = await waveRequest<WaveResponse>(berth, request);
    assert.equal(again.body.cached, true);
    assert.equal(again.body.succeeded, true);
    assert.equal(again.body.targetImage, first.body.targetImage);
    assert.equal(again.body.buildId, first.body.buildId);
  });

  it('identical requests made at once share one build', async () => {
    const request = { containerFile: dockerfile('RUN sleep 1\n'), buildContext: await inlineContext({ 'greeting.txt': 'shared\n' }), buildRepository: `${berth.host}/admin/shared` };
    const answers = await Promise.all([1, 2, 3].map(() => waveRequest<WaveResponse>(berth, request)));
    assert.deepEqual(new Set(answers.map((answer) => answer.body.buildId)).size, 1);
    assert.ok(answers.every((answer) => answer.body.cached === false));
    await waitForBuild(berth, answers[0]!.body.buildId);
    const listed = await berth.api<{ builds: Array<{ id: string; targetImage: string }> }>('GET', '/api/builds?workspace=admin');
    assert.equal(listed.body.builds.filter((build) => build.targetImage === answers[0]!.body.targetImage).length, 1);
  });

  it('a failing step ends `failed` with an error report (step, exit code, last lines) and is not retried within the window', async () => {
    const request = { containerFile: dockerfile('RUN echo about to fail && exit 3\n'), buildContext: await inlineContext({ 'greeting.txt': 'x\n' }), buildRepository: `${berth.host}/admin/broken` };
    const first = await waveRequest<WaveResponse>(berth, request);
    const record = await waitForBuild(berth, first.body.buildId);
    assert.equal(record.status, 'failed');
    assert.equal(record.exitStatus, 3);
    const report = record.errorReport as { step?: string; exitCode?: number; lastLines: string[]; message: string };
    assert.match(report.step ?? '', /exit 3/);
    assert.equal(report.exitCode, 3);
    assert.ok(report.lastLines.some((line) => line.includes('about to fail')), JSON.stringify(report));

    const log = await fetch(`${berth.url}/v1alpha1/builds/${first.body.buildId}/logs`, { headers: { Authorization: `Bearer ${berth.adminToken}` } });
    assert.match(await log.text(), /about to fail/);
    const retry = await waveRequest<WaveResponse>(berth, request);
    assert.equal(retry.body.buildId, first.body.buildId);
    assert.equal(retry.body.succeeded, false);
  });

  it('conda packages with a stand-in mamba image without micromamba fail at the micromamba step (stand-in: the real conda solve needs the internet)', async () => {
    const first = await waveRequest<WaveResponse>(berth, {
      packages: { type: 'CONDA', entries: ['samtools=1.19'], channels: ['bioconda', 'conda-forge'], condaOpts: { mambaImage: base, baseImage: base, basePackages: '' } },
      buildRepository: `${berth.host}/admin/conda`,
    });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.match(first.body.targetImage, /:samtools-1\.19--[0-9a-f]{16}$/);
    const record = await waitForBuild(berth, first.body.buildId);
    assert.equal(record.status, 'failed');
    const report = record.errorReport as { step?: string; exitCode?: number };
    assert.match(report.step ?? '', /micromamba/);
    assert.equal(typeof report.exitCode, 'number');
    assert.match(String(record.condaFile), /samtools=1\.19/);
  });

  it('a push target without credentials fails before building, in Wave words', async () => {
    const answer = await waveRequest<WaveResponse>(berth, { containerFile: dockerfile(''), buildRepository: 'registry.example.org/team/images' });
    assert.equal(answer.status, 400);
    assert.equal(answer.body.message, 'Missing credentials for container repository: registry.example.org/team/images');
    const viewer = await berth.user('viewer');
    await berth.role('admin', 'viewer', 'view');
    const notAllowed = await waveRequest<WaveResponse>(berth, { containerFile: dockerfile(''), buildRepository: `${berth.host}/admin/private` }, viewer);
    assert.equal(notAllowed.status, 400);
    assert.equal(notAllowed.body.message ?? "", `Missing credentials for container repository: ${berth.host}/admin/private - viewer may not push there`);
    const apiOnly = await berth.user('api-only', ['api']);
    const narrow = await waveRequest<WaveResponse>(berth, { containerFile: dockerfile('') }, apiOnly);
    assert.equal(narrow.status, 400);
    assert.match(narrow.body.message ?? "", /api-only\/builds - this API token lacks the registry:push scope$/);
    const bad = await waveRequest<WaveResponse>(berth, { containerFile: dockerfile(''), freeze: true });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.message, 'Attribute `buildRepository` must be specified when using freeze mode');
  });

  it('logs stream live as text and as server-sent events; a running build can be cancelled', async () => {
    const request = { containerFile: dockerfile('RUN echo tick-1 && sleep 1 && echo tick-2 && sleep 60\n'), buildContext: await inlineContext({ 'greeting.txt': 'live\n' }), buildRepository: `${berth.host}/admin/live` };
    const started = await waveRequest<WaveResponse>(berth, request);
    const headers = { Authorization: `Bearer ${berth.adminToken}` };
    const events = fetch(`${berth.url}/api/builds/${started.body.buildId}/logs?follow=1`, { headers: { ...headers, Accept: 'text/event-stream' } }).then((r) => r.text());
    const text = await fetch(`${berth.url}/api/builds/${started.body.buildId}/logs?follow=1`, { headers });
    const reader = text.body!.getReader();
    let seen = '';
    while (!seen.includes('\ntick-2\n')) seen += new TextDecoder().decode((await reader.read()).value);
    const cancelled = await berth.api<{ build: { status: string } }>('POST', `/api/builds/${started.body.buildId}/cancel`);
    assert.equal(cancelled.status, 202);
    while (!(await reader.read()).done);
    const sse = await events;
    assert.match(sse, /^data: tick-1$/m);
    assert.match(sse, /event: end\ndata: \{"status":"cancelled"/);
    const record = await berth.api<{ build: { status: string; errorReport: { message: string } } }>('GET', `/api/builds/${started.body.buildId}`);
    assert.equal(record.body.build.status, 'cancelled');
    assert.equal(record.body.build.errorReport.message, 'build cancelled by admin');
  });
});
