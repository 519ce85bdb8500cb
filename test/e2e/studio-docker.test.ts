import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { startDockerd, type Dockerd } from '../support/dockerd.ts';
import { GitHttpServer, selfSignedCertificate } from '../support/git-http-server.ts';
import { run } from '../support/processes.ts';
import { makeStudioRepository, type TreeSpec } from '../support/studio-repository.ts';
import { studioRequest } from '../support/studio-requests.ts';
import { waitForStudio, type StudioView } from '../support/studios.ts';

const studioConfig = ['schemaVersion: "0.0.1"', 'kind: "studio-config"', 'session:', '  template:', '    kind: "dockerfile"', '    dockerfile: "Dockerfile"', ''].join('\n');

/** A tiny web server in a FROM-scratch busybox image: answers on $CONNECT_TOOL_PORT and notes SIGTERM in /workspace. */
const webStudio: TreeSpec = {
  '.seqera/studio-config.yaml': studioConfig,
  '.seqera/Dockerfile': [
    'FROM scratch',
    'COPY busybox /bin/busybox',
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
    'COPY www /www',
    'COPY serve.sh /serve.sh',
    'ENV PATH=/bin',
    'CMD ["/bin/sh", "/serve.sh"]',
    '',
  ].join('\n'),
  '.seqera/www/index.html': 'hello from a busybox studio\n',
  '.seqera/serve.sh': [
    '#!/bin/sh',
    "trap 'echo got SIGTERM > /workspace/sigterm; exit 0' TERM",
    'httpd -f -p 127.0.0.1:$CONNECT_TOOL_PORT -h /www &',
    'wait',
    '',
  ].join('\n'),
};

const brokenStudio: TreeSpec = {
  '.seqera/studio-config.yaml': studioConfig,
  '.seqera/Dockerfile': 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo about to fail; exit 7"]\n',
};

describe('a studio from a Dockerfile git repository on the docker runner, end to end', () => {
  let scratch: string;
  let savedHome: string | undefined;
  let gitServer: GitHttpServer;
  let dockerd: Dockerd;
  let berth: TestBerth;
  let computeEnvId: string;
  const started: string[] = [];

  const repository = async (name: string, spec: TreeSpec) => {
    const made = await makeStudioRepository(spec, scratch);
    await copyFile('/bin/busybox', join(made.dir, '.seqera', 'busybox'));
    await run('git', ['-C', made.dir, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', 'add', '--all']);
    await run('git', ['-C', made.dir, '-c', 'user.name=t', '-c', 'user.email=t@t.invalid', 'commit', '--quiet', '-m', 'busybox']);
    await run('git', ['clone', '--quiet', '--bare', made.dir, join(scratch, 'served', 'lab', `${name}.git`)]);
    return `${gitServer.baseUrl}/lab/${name}.git`;
  };

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'berth-studio-docker-'));
    await mkdir(join(scratch, 'home'));
    const tls = await selfSignedCertificate(join(scratch, 'home'));
    savedHome = process.env.HOME;
    process.env.HOME = tls.home; // trusts the git server's certificate for this process's clones
    gitServer = new GitHttpServer({ projectRoot: join(scratch, 'served'), tls });
    await gitServer.start();
    dockerd = await startDockerd();
    berth = await startBerth({ config: { builder: { executor: 'buildah' }, studios: { allowedWorkspaces: null, reconcileIntervalS: 0.5 } } });
    const created = await berth.api<{ computeEnvId: string }>('POST', '/api/compute-envs?workspaceId=admin', {
      computeEnv: { name: 'docker', platform: 'docker', config: { socket: dockerd.host.replace(/^unix:\/\//, '') } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    computeEnvId = created.body.computeEnvId;
  });

  after(async () => {
    for (const id of started) await berth?.api('PUT', `/api/studios/${id}/stop`).catch(() => undefined);
    for (const id of started) await waitForStudio(berth, id, 'stopped', 60_000).catch(() => undefined);
    process.env.HOME = savedHome;
    await berth?.close();
    await dockerd?.stop();
    await gitServer?.stop();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  let studio: StudioView;

  it('builds, starts and runs: building → starting → running, and the tool answers through the proxy', async () => {
    const url = await repository('web', webStudio);
    const answer = await berth.api<{ studio: StudioView }>('POST', '/api/studios?workspaceId=admin&autoStart=true', { name: 'web', computeEnvId, remoteConfig: { repository: url } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    studio = answer.body.studio;
    started.push(studio.sessionId);
    assert.equal(studio.statusInfo.status, 'building');
    const running = await waitForStudio(berth, studio.sessionId, 'running', 180_000);
    assert.ok(running.buildId, 'the session was built');
    const steps = running.progress.filter((event) => event.status === 'succeeded').map((event) => event.step);
    assert.deepEqual(steps, ['build', 'start', 'connect']);
    const page = await studioRequest(berth.url, new URL(running.studioUrl).host, '/', { headers: { 'berth-session-token': berth.adminToken } });
    assert.equal(page.status, 200, page.text.slice(0, 300));
    assert.equal(page.text, 'hello from a busybox studio\n');
  });

  it('stop sends SIGTERM to the tool (it notes it in its /workspace volume) and ends stopped', async () => {
    const stop = await berth.api('PUT', `/api/studios/${studio.sessionId}/stop`);
    assert.equal(stop.status, 200);
    const stopped = await waitForStudio(berth, studio.sessionId, 'stopped', 60_000);
    assert.equal(stopped.statusInfo.stopReason, 'USER_REQUEST');
    const seen = await dockerd.docker(['run', '--rm', '--network', 'host', '-v', `berth-ws-${studio.sessionId}:/workspace`, '--entrypoint', '/bin/cat', stopped.image!, '/workspace/sigterm'], { configDir: scratch });
    assert.equal(seen.stdout.trim(), 'got SIGTERM');
    const containers = await dockerd.docker(['ps', '--all', '--filter', `label=berth.session=${studio.sessionId}`, '--format', '{{.ID}}'], { configDir: scratch });
    assert.equal(containers.stdout.trim(), '', 'the stopped session left no container');
  });

  it('deleting the stopped studio removes its workspace volume from the engine', async () => {
    const volume = `berth-ws-${studio.sessionId}`;
    const volumes = () => dockerd.docker(['volume', 'ls', '--quiet', '--filter', `name=^${volume}$`], { configDir: scratch });
    assert.equal((await volumes()).stdout.trim(), volume, 'the volume outlives the runs');
    const deleted = await berth.api('DELETE', `/api/studios/${studio.sessionId}`);
    assert.equal(deleted.status, 204);
    assert.equal((await volumes()).stdout.trim(), '', 'the volume went with the studio');
  });

  it('a failing Dockerfile ends buildFailed with its error report', async () => {
    const url = await repository('broken', brokenStudio);
    const answer = await berth.api<{ studio: StudioView }>('POST', '/api/studios?workspaceId=admin&autoStart=true', { name: 'broken', computeEnvId, remoteConfig: { repository: url } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const failed = await waitForStudio(berth, answer.body.studio.sessionId, 'buildFailed', 120_000);
    assert.match(failed.statusInfo.message ?? '', /exit|7/);
    assert.match(failed.statusInfo.message ?? '', /about to fail/);
    assert.ok(failed.progress.some((event) => event.step === 'build' && event.status === 'errored'));
  });
});
