import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prepareAgentKit } from '../../../src/studios/runners/agent-kit.ts';
import { DockerRunner, demultiplex, splitImageReference, toolCommandOf } from '../../../src/studios/runners/docker-runner.ts';
import { RunnerError, type SessionLaunch } from '../../../src/studios/runners/runner.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { removeDir, scratchDir, writeBusyboxContext } from '../../support/containers.ts';
import { startDockerd, type Dockerd } from '../../support/dockerd.ts';
import { run, type RunResult } from '../../support/processes.ts';
import { studioHost, studioRequest } from '../../support/studio-requests.ts';
import { eventually } from '../../support/waiting.ts';
import { runnerContract, type ToolBehaviour } from './runner.contract.ts';

/**
 * The tool of the test images: busybox httpd serving `hello <session id>` on $CONNECT_TOOL_PORT. What it
 * does besides is chosen per launch by TOOL_BEHAVIOUR (the contract's behaviours, and a few of this file's):
 * - normal: on SIGTERM it writes `sigterm <session id>` to /workspace/signals and exits 143;
 * - ignores-sigterm: ignores SIGTERM (httpd, started after the trap, inherits that);
 * - exits-at-once: exit 3;
 * - show-workspace: prints the files in /workspace and exits 0.
 * It writes `tool stdout <id>` and `tool stderr <id>` at start, for the logs.
 */
const toolScript = `#!/bin/sh
echo "tool stdout $BERTH_SESSION_ID"
echo "tool stderr $BERTH_SESSION_ID" >&2
mkdir -p /www
echo "hello $BERTH_SESSION_ID" > /www/index.html
echo "run $BERTH_SESSION_ID" >> /workspace/runs
case "$TOOL_BEHAVIOUR" in
  exits-at-once) exit 3 ;;
  show-workspace) for f in /workspace/*; do echo "== $f"; cat "$f"; done; exit 0 ;;
  ignores-sigterm) trap "" TERM ;;
  *) trap 'echo "sigterm $BERTH_SESSION_ID" >> /workspace/signals; exit 143' TERM ;;
esac
httpd -f -p "$CONNECT_TOOL_PORT" -h /www &
wait
`;

const toolImage = 'berth-test/tool:1';
/** The same tool, as an image made for Seqera's connect-client (whose binary it does not even contain). */
const seqeraImage = 'berth-test/seqera-style:1';

type Behaviour = ToolBehaviour | 'show-workspace';

interface Session {
  launch: SessionLaunch;
  studioHost: string;
}

/**
 * One private dockerd, one Berth and the test images for the whole file (the contract and the docker
 * cases below), started on first use and stopped by the file's `after` hook.
 */
interface Environment {
  dockerd: Dockerd;
  berth: TestBerth;
  runner: DockerRunner;
  /** The docker CLI against the private engine (its own config dir for logins). */
  docker(args: string[], input?: string): Promise<RunResult>;
  /** A connect session in Berth and the launch of the test tool for it. */
  newSession(behaviour?: Behaviour, overrides?: Partial<SessionLaunch>): Promise<Session>;
  /** One request for the session's tool through Berth's proxy: its body, or an error while it does not answer 200. */
  reachOnce(sessionId: string): Promise<string>;
  /** Whether the engine (asked through the docker CLI, not the runner) has the container running. */
  containerRuns(handle: string): Promise<boolean>;
  close(): Promise<void>;
}

let shared: Promise<Environment> | undefined;
function environment(): Promise<Environment> {
  return (shared ??= setUpEnvironment());
}

after(async () => {
  const env = await shared?.catch(() => undefined);
  await env?.close();
});

async function setUpEnvironment(): Promise<Environment> {
  const dir = await scratchDir('docker-runner');
  const [dockerd, berth] = await Promise.all([startDockerd(), startBerth()]);
  const runner = new DockerRunner({ socketPath: socketOf(dockerd), dataDir: berth.dataDir });
  const docker = (args: string[], input?: string) => dockerd.docker(args, { configDir: join(dir, 'docker-config'), input });
  const env: Environment = {
    dockerd,
    berth,
    runner,
    docker,
    async newSession(behaviour = 'normal', overrides = {}) {
      const created = await berth.api<{ session: { id: string }; env: Record<string, string> }>('POST', '/api/connect/sessions', { workspace: 'admin' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const { session, env: agentEnv } = created.body;
      const launch: SessionLaunch = {
        sessionId: session.id,
        workspaceSlug: 'admin',
        userName: 'admin',
        image: toolImage,
        pullCredentials: null,
        hostCommand: null,
        env: { ...agentEnv, TOOL_BEHAVIOUR: behaviour },
        resources: { cpu: 0.5, memoryMiB: 256, gpu: 0 },
        workspaceVolume: `ws-${session.id}`,
        labels: { 'berth.session': session.id, 'berth.workspace': 'admin', 'berth.user': 'admin', 'berth.managed': 'true' },
        gracePeriodS: 30,
        ...overrides,
      };
      return { launch, studioHost: studioHost(berth.url, session.id) };
    },
    async reachOnce(sessionId) {
      const answer = await studioRequest(berth.url, studioHost(berth.url, sessionId), '/', { headers: { 'Berth-Session-Token': berth.adminToken } });
      if (answer.status !== 200) throw new Error(`the proxy answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      return answer.text;
    },
    async containerRuns(handle) {
      const inspected = await docker(['inspect', '--format', '{{.State.Running}}', handle]).catch(() => undefined);
      return inspected?.stdout.trim() === 'true';
    },
    async close() {
      const listed = await runner.list().catch(() => []);
      for (const { handle } of listed) await runner.remove(handle).catch(() => undefined);
      await Promise.all([dockerd.stop(), berth.close()]);
      await removeDir(dir);
    },
  };
  try {
    const context = await writeBusyboxContext(join(dir, 'tool'), 'docker-runner');
    await writeFile(join(context, 'tool.sh'), toolScript, { mode: 0o755 });
    await appendFile(join(context, 'Dockerfile'), 'COPY tool.sh /tool.sh\nCMD ["/tool.sh"]\n');
    await docker(['build', '-q', '-t', toolImage, context]);
    const seqera = join(dir, 'seqera');
    await mkdir(seqera);
    await writeFile(join(seqera, 'Dockerfile'), `FROM ${toolImage}\nENTRYPOINT ["/usr/bin/connect-client", "--entrypoint"]\nCMD ["/tool.sh"]\n`);
    await docker(['build', '-q', '-t', seqeraImage, seqera]);
  } catch (error) {
    await env.close();
    throw error;
  }
  return env;
}

runnerContract('docker (a private dockerd, a real Berth, a FROM-scratch busybox image)', async () => {
  const env = await environment();
  return {
    runner: env.runner,
    launch: async (behaviour = 'normal') => (await env.newSession(behaviour)).launch,
    reach: (sessionId) => env.reachOnce(sessionId),
    stillRuns: (handle) => env.containerRuns(handle),
    async workspaceExists(launch) {
      const volumes = await env.docker(['volume', 'ls', '--quiet', '--filter', `name=^berth-ws-${launch.workspaceVolume}$`]);
      return volumes.stdout.trim() !== '';
    },
    // The environment is shared with the cases below; the file's after hook stops it.
    close: async () => undefined,
  };
});

describe('DockerRunner against a private dockerd and a real Berth', () => {
  let env: Environment;
  let runner: DockerRunner;
  let berth: TestBerth;
  const handles: string[] = [];

  before(async () => {
    env = await environment();
    ({ runner, berth } = env);
  });

  after(async () => {
    for (const handle of handles) await runner?.remove(handle).catch(() => undefined);
  });

  const docker = (args: string[], input?: string) => env.docker(args, input);
  const newSession = (behaviour?: Behaviour, overrides?: Partial<SessionLaunch>) => env.newSession(behaviour, overrides);

  async function start(session: Session, progress: string[] = []): Promise<string> {
    const handle = await runner.start(session.launch, (line) => progress.push(line));
    handles.push(handle);
    return handle;
  }

  /** The tool's answer through Berth's proxy, once the agent has connected and the tool listens. */
  async function reach(session: Session): Promise<string> {
    return eventually(`session ${session.launch.sessionId} answering through the proxy`, () => env.reachOnce(session.launch.sessionId).catch(() => undefined), 60_000, 100);
  }

  async function exited(handle: string) {
    return eventually(`container ${handle.slice(0, 12)} exiting`, async () => {
      const observation = await runner.observe(handle);
      return observation.state === 'exited' ? observation : undefined;
    }, 60_000, 100);
  }

  async function inspect(handle: string) {
    const result = await docker(['inspect', handle]);
    return (JSON.parse(result.stdout) as Array<Record<string, any>>)[0]!;
  }

  it('check() finds the daemon available', async () => {
    assert.deepEqual(await runner.check(), { available: true });
  });

  it('runs the image with the agent injected: the tool answers through the proxy', async () => {
    const session = await newSession();
    const progress: string[] = [];
    const handle = await start(session, progress);
    assert.match(handle, /^[0-9a-f]{64}$/);
    assert.equal(await reach(session), `hello ${session.launch.sessionId}\n`);
    assert.deepEqual(await runner.observe(handle), { state: 'running' });
    assert.ok(progress.some((line) => /Creating container berth-session-/.test(line)), progress.join('\n'));
    const listed = await runner.list();
    assert.ok(listed.some((entry) => entry.handle === handle && entry.sessionId === session.launch.sessionId), JSON.stringify(listed));
    await runner.stop(handle, 2);
  });

  it('creates the container as specified: host network, init, limits, labels, the kit read-only, the workspace volume', async () => {
    const session = await newSession();
    const handle = await start(session);
    const container = await inspect(handle);
    assert.equal(container.Name, `/berth-session-${session.launch.sessionId}`);
    assert.equal(container.HostConfig.NetworkMode, 'host');
    assert.equal(container.HostConfig.Init, true);
    assert.equal(container.HostConfig.NanoCpus, 500_000_000);
    assert.equal(container.HostConfig.Memory, 256 * 1024 * 1024);
    assert.equal(container.Config.StopSignal, 'SIGTERM');
    assert.equal(container.Config.Labels['berth.managed'], 'true');
    assert.equal(container.Config.Labels['berth.session'], session.launch.sessionId);
    assert.equal(container.Config.Labels['berth.user'], 'admin');
    const port = (container.Config.Env as string[]).find((entry) => entry.startsWith('CONNECT_TOOL_PORT='));
    assert.match(port ?? '', /^CONNECT_TOOL_PORT=\d+$/);
    assert.ok((container.Config.Env as string[]).includes(`BERTH_SESSION_ID=${session.launch.sessionId}`));
    const kit = container.Mounts.find((mount: { Destination: string }) => mount.Destination === '/opt/berth/agent');
    assert.equal(kit?.RW, false);
    const workspace = container.Mounts.find((mount: { Destination: string }) => mount.Destination === '/workspace');
    assert.equal(workspace?.Type, 'volume');
    assert.equal(workspace?.Name, `berth-ws-ws-${session.launch.sessionId}`);
    // The agent is the entrypoint, from the kit; the image's command is the tool after `--`.
    assert.equal(container.Path, '/opt/berth/agent/ld-linux-x86-64.so.2');
    assert.deepEqual((container.Args as string[]).slice(-4), ['--grace-period', '30', '--', '/tool.sh']);
    assert.equal(container.Config.StopTimeout, 35, 'the engine SIGKILLs a few seconds after the agent would');
    await runner.stop(handle, 2);
  });

  it('stop sends SIGTERM to the tool (its trap writes to the workspace volume, which the next run sees)', async () => {
    const first = await newSession();
    const handle = await start(first);
    await reach(first);
    await runner.stop(handle, 10);
    const observation = await runner.observe(handle);
    assert.equal(observation.state, 'exited');
    assert.equal(observation.state === 'exited' && observation.exitCode, 143);

    const second = await newSession('show-workspace', { workspaceVolume: first.launch.workspaceVolume });
    const reader = await start(second);
    assert.equal((await exited(reader)).exitCode, 0);
    const output = await runner.logs(reader);
    // the agent's own lines may interleave with the tool's output: look for the file's line after its heading
    const signals = output.slice(output.indexOf('== /workspace/signals'));
    assert.match(signals, new RegExp(`^sigterm ${first.launch.sessionId}$`, 'm'));
    assert.match(output, new RegExp(`run ${first.launch.sessionId}\\nrun ${second.launch.sessionId}\\n`), 'both runs wrote to the same volume');
  });

  it('a tool that ignores SIGTERM is SIGKILLed by the agent at the launch\'s grace period, and the agent reports it to Berth', async () => {
    const session = await newSession('ignores-sigterm', { gracePeriodS: 1 });
    const handle = await start(session);
    await reach(session);
    await runner.stop(handle, 10);
    const observation = await runner.observe(handle);
    assert.equal(observation.state === 'exited' && observation.exitCode, 137, JSON.stringify(observation));
    const recorded = await berth.api<{ session: { agentStatus: string; exitCode: number | null } }>('GET', `/api/connect/sessions/${session.launch.sessionId}`);
    assert.deepEqual([recorded.body.session.agentStatus, recorded.body.session.exitCode], ['stopped', 137]);
  });

  it('a stop with a shorter grace than the launch\'s is SIGKILLed by the engine at that grace', async () => {
    const session = await newSession('ignores-sigterm', { gracePeriodS: 600 });
    const handle = await start(session);
    await reach(session);
    await runner.stop(handle, 1);
    const observation = await runner.observe(handle);
    assert.equal(observation.state === 'exited' && observation.exitCode, 137, JSON.stringify(observation));
  });

  it('a tool that exits at once leaves an exited container with its status', async () => {
    const session = await newSession('exits-at-once');
    const handle = await start(session);
    const observation = await exited(handle);
    assert.equal(observation.exitCode, 3);
    assert.match(observation.reason, /status 3/);
  });

  it('logs() returns the agent\'s and the tool\'s output, stdout and stderr, without frame headers', async () => {
    const session = await newSession('exits-at-once');
    const handle = await start(session);
    await exited(handle);
    const output = await runner.logs(handle);
    assert.match(output, new RegExp(`tool stdout ${session.launch.sessionId}\\n`));
    assert.match(output, new RegExp(`tool stderr ${session.launch.sessionId}\\n`));
    assert.doesNotMatch(output, /[\u0000-\u0002]/);
  });

  it('remove() deletes the container but keeps the volume; observe() then says missing; both idempotent', async () => {
    const session = await newSession('exits-at-once');
    const handle = await start(session);
    await exited(handle);
    await runner.remove(handle);
    await runner.remove(handle);
    await runner.stop(handle, 1);
    assert.equal((await runner.observe(handle)).state, 'missing');
    assert.ok(!(await runner.list()).some((entry) => entry.handle === handle));
    await assert.rejects(runner.logs(handle), (error: unknown) => error instanceof RunnerError && error.code === 'NOT_FOUND');
    const volumes = await docker(['volume', 'ls', '-q']);
    assert.ok(volumes.stdout.split('\n').includes(`berth-ws-${session.launch.workspaceVolume}`));
  });

  it('starting a session again replaces its stopped container of an earlier run', async () => {
    const session = await newSession('exits-at-once');
    const earlier = await start(session);
    await exited(earlier);
    const later = await start(session);
    assert.notEqual(later, earlier);
    assert.equal((await runner.observe(earlier)).state, 'missing');
    await exited(later);
  });

  it('runs images made for connect-client (ENTRYPOINT ["…/connect-client", "--entrypoint"]) with their CMD as the tool', async () => {
    const session = await newSession('normal', { image: seqeraImage });
    const handle = await start(session);
    assert.equal(await reach(session), `hello ${session.launch.sessionId}\n`);
    await runner.stop(handle, 2);
  });

  it('pulls the image from a registry that needs a login (Berth\'s own)', async () => {
    const image = `${berth.host}/admin/runner-pull:1`;
    await docker(['login', '-u', 'admin', '--password-stdin', berth.host], berth.adminToken);
    await docker(['tag', toolImage, image]);
    await docker(['push', image]);
    await docker(['rmi', image]);
    await docker(['logout', berth.host]);

    const session = await newSession('normal', { image, pullCredentials: { username: 'admin', password: berth.adminToken } });
    const progress: string[] = [];
    const handle = await start(session, progress);
    assert.ok(progress.includes(`Pulling ${image}`), progress.join('\n'));
    assert.equal(await reach(session), `hello ${session.launch.sessionId}\n`);
    await runner.stop(handle, 2);
  });

  it('an image that cannot be pulled is IMAGE_PULL_FAILED, naming the image', async () => {
    const image = `${berth.host}/admin/does-not-exist:1`;
    const session = await newSession('normal', { image, pullCredentials: { username: 'admin', password: berth.adminToken } });
    await assert.rejects(runner.start(session.launch, () => undefined), (error: unknown) => {
      assert.ok(error instanceof RunnerError);
      assert.equal(error.code, 'IMAGE_PULL_FAILED');
      assert.ok(error.message.includes(image), error.message);
      return true;
    });
    assert.ok(!(await runner.list()).some((entry) => entry.sessionId === session.launch.sessionId), 'no container left');
  });

  it('a GPU the engine cannot provide is START_FAILED, and no container is left', async () => {
    const session = await newSession('normal', { resources: { cpu: 0, memoryMiB: 0, gpu: 1 } });
    await assert.rejects(runner.start(session.launch, () => undefined), (error: unknown) => {
      assert.ok(error instanceof RunnerError);
      assert.equal(error.code, 'START_FAILED');
      assert.match(error.message, /nvidia/);
      return true;
    });
    assert.ok(!(await runner.list()).some((entry) => entry.sessionId === session.launch.sessionId), 'no container left');
  });

  it('another runner (a restarted Berth) observes and stops the sessions of an earlier one', async () => {
    const session = await newSession();
    const handle = await start(session);
    await reach(session);
    const restarted = new DockerRunner({ socketPath: socketOf(env.dockerd), dataDir: berth.dataDir });
    assert.deepEqual(await restarted.observe(handle), { state: 'running' });
    assert.ok((await restarted.list()).some((entry) => entry.handle === handle));
    await restarted.stop(handle, 5);
    assert.equal((await restarted.observe(handle)).state, 'exited');
  });
});

describe('DockerRunner with a daemon that is down', () => {
  it('check() says unavailable with the reason, and start() is UNAVAILABLE', async () => {
    const dockerd = await startDockerd();
    const dataDir = await scratchDir('docker-runner-down');
    try {
      const runner = new DockerRunner({ socketPath: socketOf(dockerd), dataDir });
      assert.deepEqual(await runner.check(), { available: true });
      await dockerd.stop();
      const check = await runner.check();
      assert.equal(check.available, false);
      assert.ok(!check.available && check.reason.startsWith(`Docker daemon unreachable at ${socketOf(dockerd)}: `), JSON.stringify(check));
      const launch: SessionLaunch = {
        sessionId: 'down',
        workspaceSlug: 'admin',
        userName: 'admin',
        image: toolImage,
        pullCredentials: null,
        hostCommand: null,
        env: {},
        resources: { cpu: 0, memoryMiB: 0, gpu: 0 },
        workspaceVolume: 'down',
        labels: {},
        gracePeriodS: 1,
      };
      await assert.rejects(runner.start(launch, () => undefined), (error: unknown) => error instanceof RunnerError && error.code === 'UNAVAILABLE');
      await assert.rejects(runner.observe('0'.repeat(64)), (error: unknown) => error instanceof RunnerError && error.code === 'UNAVAILABLE');
    } finally {
      await dockerd.stop();
      await removeDir(dataDir);
    }
  });
});

describe('the agent kit', () => {
  it('is prepared once, runs the bundled agent through its own loader and libraries, and is readable by anyone', async () => {
    const dataDir = await scratchDir('agent-kit');
    try {
      const root = join(dataDir, 'agent-kit');
      const kit = await prepareAgentKit(root);
      assert.equal(await prepareAgentKit(root), kit);
      const command = kit.agentCommand(7).map((part) => part.replace('/opt/berth/agent', kit.hostDir));
      assert.deepEqual(command.slice(-3), ['--grace-period', '7', '--']);
      const version = await run(command[0]!, [...command.slice(1, -3), '--version'], { env: {} });
      assert.equal(version.stdout, `berth agent ${kit.agentVersion}\n`);
      const modes = await run('find', [kit.hostDir, '!', '-perm', '-o=r']);
      assert.equal(modes.stdout, '', 'every file is world-readable');
    } finally {
      await removeDir(dataDir);
    }
  });
});

describe('docker runner helpers', () => {
  it('toolCommandOf: entrypoint then cmd; a connect-client wrapper is dropped', () => {
    assert.deepEqual(toolCommandOf({ Id: 'x', Config: { Entrypoint: ['/bin/tini', '--'], Cmd: ['serve'] } }), ['/bin/tini', '--', 'serve']);
    assert.deepEqual(toolCommandOf({ Id: 'x', Config: { Entrypoint: null, Cmd: ['jupyter', 'lab'] } }), ['jupyter', 'lab']);
    assert.deepEqual(toolCommandOf({ Id: 'x', Config: { Entrypoint: ['/usr/bin/connect-client', '--entrypoint'], Cmd: ['jupyter'] } }), ['jupyter']);
    assert.deepEqual(toolCommandOf({ Id: 'x', Config: {} }), []);
  });

  it('splitImageReference: tag, digest, default latest, registry ports', () => {
    assert.deepEqual(splitImageReference('127.0.0.1:5000/ws/img:2'), { name: '127.0.0.1:5000/ws/img', tagOrDigest: '2' });
    assert.deepEqual(splitImageReference('127.0.0.1:5000/ws/img'), { name: '127.0.0.1:5000/ws/img', tagOrDigest: 'latest' });
    assert.deepEqual(splitImageReference(`ws/img:1@sha256:${'a'.repeat(64)}`), { name: 'ws/img', tagOrDigest: `sha256:${'a'.repeat(64)}` });
  });

  it('demultiplex: joins the frames\' payloads', () => {
    const framed = (stream: number, text: string) => {
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([header, Buffer.from(text)]);
    };
    assert.equal(demultiplex(Buffer.concat([framed(1, 'out\n'), framed(2, 'err\n'), framed(1, 'é'.repeat(200))])).toString(), `out\nerr\n${'é'.repeat(200)}`);
  });
});

function socketOf(dockerd: Dockerd): string {
  return dockerd.host.replace(/^unix:\/\//, '');
}
