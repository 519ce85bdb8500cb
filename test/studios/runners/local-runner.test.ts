import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalRunner } from '../../../src/studios/runners/local-runner.ts';
import { RunnerError, type SessionLaunch } from '../../../src/studios/runners/runner.ts';
import { startBerth, type TestBerth } from '../../support/berth.ts';
import { run } from '../../support/processes.ts';
import { studioHost, studioRequest } from '../../support/studio-requests.ts';
import { eventually } from '../../support/waiting.ts';
import { runnerContract, type ToolBehaviour } from './runner.contract.ts';

/**
 * The tool: a Node web server answering `hello <session id>` on $CONNECT_TOOL_PORT. Its arguments are the
 * filled-in `{port}` and `{prefix}` placeholders and a behaviour. At start it writes, in its working
 * directory, its pid (tool.pid), a line to `runs`, and what it was given (tool-info.json); it prints a line
 * on stdout and one on stderr. Behaviours besides the contract's: `leaves-child` starts a shell (in the
 * tool's process group) that ignores SIGTERM and outlives the tool; `chatty` prints 2 MiB before serving.
 */
const toolScript = `
const http = require('node:http');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const [argvPort, argvPrefix, behaviour] = process.argv.slice(1);
const id = process.env.BERTH_SESSION_ID;
fs.writeFileSync('tool.pid', String(process.pid));
fs.appendFileSync('runs', id + '\\n');
fs.writeFileSync('tool-info.json', JSON.stringify({ argvPort, argvPrefix, cwd: process.cwd(), env: process.env }));
console.log('tool stdout ' + id);
console.error('tool stderr ' + id);
if (behaviour === 'exits-at-once') process.exit(3);
if (behaviour === 'ignores-sigterm') process.on('SIGTERM', () => console.log('tool ignores SIGTERM'));
if (behaviour === 'leaves-child') {
  spawn('sh', ['-c', 'trap "" TERM; echo $$ > leftover.pid; while :; do sleep 1; done'], { stdio: 'ignore' }).unref();
}
if (behaviour === 'chatty') {
  for (let line = 0; line < 20000; line++) process.stdout.write('chatter ' + line + ' ' + 'x'.repeat(100) + '\\n');
  console.log('last chatter ' + id);
}
http.createServer((req, res) => res.end('hello ' + id + '\\n')).listen(Number(process.env.CONNECT_TOOL_PORT), '127.0.0.1');
`;

type LocalBehaviour = ToolBehaviour | 'leaves-child' | 'chatty';

/** A real Berth to give the agents their sessions, and a work dir for the runner. */
interface LocalSetup {
  berth: TestBerth;
  workDir: string;
  runner: LocalRunner;
  launch(behaviour?: LocalBehaviour, overrides?: Partial<SessionLaunch>): Promise<SessionLaunch>;
  reach(sessionId: string, path?: string): Promise<string>;
  close(): Promise<void>;
}

async function localSetup(): Promise<LocalSetup> {
  const berth = await startBerth();
  const workDir = await mkdtemp(join(tmpdir(), 'berth-local-runner-'));
  return {
    berth,
    workDir,
    runner: new LocalRunner({ workDir }),
    async launch(behaviour = 'normal', overrides = {}) {
      const created = await berth.api<{ session: { id: string }; env: Record<string, string> }>('POST', '/api/connect/sessions', { workspace: 'admin' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const { session, env } = created.body;
      return {
        sessionId: session.id,
        workspaceSlug: 'admin',
        userName: 'admin',
        image: null,
        pullCredentials: null,
        hostCommand: [process.execPath, '-e', toolScript, '{port}', '{prefix}', behaviour],
        env: { ...env, STUDIO_VARIABLE: 'from the studio' },
        resources: { cpu: 1, memoryMiB: 512, gpu: 0 },
        workspaceVolume: `ws-${session.id}`,
        labels: { 'berth.session': session.id, 'berth.workspace': 'admin', 'berth.user': 'admin', 'berth.managed': 'true' },
        gracePeriodS: 30,
        ...overrides,
      };
    },
    async reach(sessionId, path = '/') {
      const answer = await studioRequest(berth.url, studioHost(berth.url, sessionId), path, { headers: { 'Berth-Session-Token': berth.adminToken } });
      if (answer.status !== 200) throw new Error(`the proxy answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      return answer.text;
    },
    async close() {
      await berth.close();
      await rm(workDir, { recursive: true, force: true });
    },
  };
}

/** /proc/<pid>/stat from field 3 (the state) on: [0] state, [2] process group, [19] start time. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Looked up in /proc directly, not through the runner: a zombie runs nothing. */
function processRuns(pid: number): boolean {
  const state = procStat(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

function workspaceOf(workDir: string, launch: SessionLaunch): string {
  return join(workDir, 'workspaces', launch.workspaceVolume);
}

function pidFile(path: string): number | undefined {
  return existsSync(path) ? Number(readFileSync(path, 'utf8').trim()) : undefined;
}

function agentPidOf(handle: string): number {
  return (JSON.parse(handle) as { pid: number }).pid;
}

runnerContract('local', async () => {
  const setup = await localSetup();
  return {
    runner: setup.runner,
    launch: (behaviour) => setup.launch(behaviour),
    reach: (sessionId) => setup.reach(sessionId),
    async stillRuns(handle, launch) {
      const toolPid = pidFile(join(workspaceOf(setup.workDir, launch), 'tool.pid'));
      return processRuns(agentPidOf(handle)) || (toolPid !== undefined && processRuns(toolPid));
    },
    workspaceExists: async (launch) => existsSync(workspaceOf(setup.workDir, launch)),
    close: () => setup.close(),
  };
});

describe('LocalRunner on the Berth host', () => {
  let setup: LocalSetup;
  const started: string[] = [];

  before(async () => {
    setup = await localSetup();
  });

  after(async () => {
    for (const handle of started) await setup?.runner.remove(handle).catch(() => undefined);
    await setup?.close();
  });

  async function start(launch: SessionLaunch, runner: LocalRunner = setup.runner): Promise<string> {
    const handle = await runner.start(launch, () => undefined);
    started.push(handle);
    return handle;
  }

  async function toolInfo(launch: SessionLaunch): Promise<{ argvPort: string; argvPrefix: string; cwd: string; env: Record<string, string> }> {
    const path = join(workspaceOf(setup.workDir, launch), 'tool-info.json');
    await eventually('the tool to write tool-info.json', () => existsSync(path), 30_000);
    // Written in one go, but possibly caught half-way.
    return eventually('tool-info.json to be complete', async () => {
      try {
        return JSON.parse(await readFile(path, 'utf8'));
      } catch {
        return undefined;
      }
    });
  }

  async function runningThroughProxy(launch: SessionLaunch): Promise<void> {
    await eventually(`session ${launch.sessionId} answering through the proxy`, async () => {
      const body = await setup.reach(launch.sessionId).catch(() => undefined);
      return body === `hello ${launch.sessionId}\n`;
    }, 60_000, 100);
  }

  it('refuses a template without a host command, and GPUs, as UNSUPPORTED', async () => {
    const withoutCommand = await setup.launch('normal', { hostCommand: null, image: 'example/tool:1' });
    await assert.rejects(setup.runner.start(withoutCommand, () => undefined), (error: unknown) => {
      assert.ok(error instanceof RunnerError);
      assert.equal(error.code, 'UNSUPPORTED');
      assert.equal(error.message, 'this template declares no host command, so it cannot run on a local compute environment');
      return true;
    });
    const withGpu = await setup.launch('normal', { resources: { cpu: 1, memoryMiB: 512, gpu: 1 } });
    await assert.rejects(setup.runner.start(withGpu, () => undefined), (error: unknown) => error instanceof RunnerError && error.code === 'UNSUPPORTED');
  });

  it('refuses session ids and workspace names that are not one plain path component', async () => {
    for (const overrides of [{ workspaceVolume: '../escape' }, { workspaceVolume: 'a/b' }, { sessionId: '../../x' }]) {
      const launch = await setup.launch('normal', overrides);
      await assert.rejects(setup.runner.start(launch, () => undefined), (error: unknown) => error instanceof RunnerError && error.code === 'START_FAILED');
    }
  });

  it('fills {port} and {prefix}, sets CONNECT_TOOL_PORT, runs in the workspace directory, passes the studio\'s variables and none of Berth\'s', async () => {
    process.env.BERTH_TEST_LEAK = 'must not reach the tool';
    try {
      const launch = await setup.launch();
      const progress: string[] = [];
      const handle = await setup.runner.start(launch, (line) => progress.push(line));
      started.push(handle);
      const info = await toolInfo(launch);
      assert.equal(info.argvPort, info.env.CONNECT_TOOL_PORT);
      assert.match(info.argvPort, /^\d+$/);
      assert.equal(info.argvPrefix, '/');
      assert.equal(info.cwd, workspaceOf(setup.workDir, launch));
      assert.equal(info.env.STUDIO_VARIABLE, 'from the studio');
      assert.equal(info.env.BERTH_SESSION_ID, launch.sessionId);
      assert.equal(info.env.BERTH_SESSION_TOKEN, undefined, 'the agent keeps its token to itself');
      assert.equal(info.env.BERTH_TEST_LEAK, undefined, "Berth's own environment stays out of sessions");
      assert.ok(info.env.PATH, 'PATH is passed on');
      assert.ok(progress.length > 0 && progress.some((line) => line.includes(info.argvPort)), progress.join('\n'));
      await runningThroughProxy(launch);
      await setup.runner.stop(handle, 5);
    } finally {
      delete process.env.BERTH_TEST_LEAK;
    }
  });

  it('fills {prefix} from CONNECT_TOOL_PATH_PREFIX (path routing)', async () => {
    const plain = await setup.launch();
    const launch = { ...plain, env: { ...plain.env, CONNECT_TOOL_PATH_PREFIX: `/_studio/${plain.sessionId}/` } };
    const handle = await start(launch);
    const info = await toolInfo(launch);
    assert.equal(info.argvPrefix, `/_studio/${plain.sessionId}/`);
    assert.equal(info.env.CONNECT_TOOL_PATH_PREFIX, `/_studio/${plain.sessionId}/`);
    await setup.runner.stop(handle, 5);
  });

  it('sessions survive the Berth process that started them; a fresh runner observes, lists, reads and stops them', async () => {
    const launch = await setup.launch();
    // Another Node process plays the Berth that starts the session and then goes away.
    const starter = `
      import { LocalRunner } from ${JSON.stringify(new URL('../../../src/studios/runners/local-runner.ts', import.meta.url).href)};
      const [workDir, launch] = process.argv.slice(1);
      const handle = await new LocalRunner({ workDir }).start(JSON.parse(launch), () => undefined);
      process.stdout.write(handle);
    `;
    const result = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', starter, setup.workDir, JSON.stringify(launch)], { timeoutMs: 60_000 });
    const handle = result.stdout;
    started.push(handle);

    // In a process group of its own, so that signals to Berth's group (a Ctrl-C in its terminal) miss it.
    const agentPid = agentPidOf(handle);
    assert.equal(Number(procStat(agentPid)?.[2]), agentPid);

    const fresh = new LocalRunner({ workDir: setup.workDir });
    assert.deepEqual(await fresh.observe(handle), { state: 'running' });
    await runningThroughProxy(launch);
    const listed = await fresh.list();
    assert.ok(listed.some((entry) => entry.sessionId === launch.sessionId && entry.handle === handle), JSON.stringify(listed));
    await eventually('the tool output in the logs', async () => (await fresh.logs(handle)).includes(`tool stdout ${launch.sessionId}`));
    assert.match(await fresh.logs(handle), new RegExp(`tool stderr ${launch.sessionId}`));

    await fresh.stop(handle, 5);
    assert.equal(processRuns(agentPidOf(handle)), false);
    // Not its child: the runner cannot know the code (the agent reports it over the tunnel).
    const observation = await fresh.observe(handle);
    assert.equal(observation.state, 'exited');
    assert.equal(observation.state === 'exited' && observation.exitCode, null);
  });

  it('reports the exit code of an agent it spawned, and of one that was SIGKILLed as 128 + 9', async () => {
    const exiting = await setup.launch('exits-at-once');
    const exitingHandle = await start(exiting);
    // Holding the event loop until the agent has ended observes it as a zombie Node has not reaped yet (the race CI once lost).
    const deadline = Date.now() + 30_000;
    while (processRuns(agentPidOf(exitingHandle)) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    const exited = await setup.runner.observe(exitingHandle);
    assert.equal(exited.state, 'exited');
    assert.equal(exited.state === 'exited' && exited.exitCode, 3);

    const killed = await setup.launch();
    const killedHandle = await start(killed);
    await runningThroughProxy(killed);
    process.kill(agentPidOf(killedHandle), 'SIGKILL');
    const observation = await eventually('the killed agent to be observed', async () => {
      const seen = await setup.runner.observe(killedHandle);
      return seen.state === 'exited' && seen.exitCode !== null ? seen : undefined;
    });
    assert.equal(observation.exitCode, 137);
    await setup.runner.stop(killedHandle, 1);
    // The agent died without stopping its tool, which the runner no longer sees: the test ends it.
    const toolPid = pidFile(join(workspaceOf(setup.workDir, killed), 'tool.pid'));
    if (toolPid !== undefined && processRuns(toolPid)) process.kill(-toolPid, 'SIGKILL');
  });

  it('a reused pid is never taken for the session: same pid, other start time → missing', async () => {
    for (const pid of [process.pid, 1]) {
      const handle = JSON.stringify({ sessionId: 'nosuchsession', pid, startTime: '1' });
      assert.equal((await setup.runner.observe(handle)).state, 'missing');
      await setup.runner.stop(handle, 1);
      assert.ok(processRuns(pid), `stop() of a stale handle left pid ${pid} alone`);
    }
  });

  it('a zombie agent (ended, not reaped) is observed exited', async () => {
    // `sleep 0` ends at once; its parent execs a `sleep` that never waits for it, so it stays a zombie.
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombiePid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (data: Buffer) => resolve(data.toString().trim()))));
      const stat = await eventually('sleep 0 to become a zombie', () => {
        const fields = procStat(zombiePid);
        return fields?.[0] === 'Z' ? fields : undefined;
      });
      const handle = JSON.stringify({ sessionId: 'zombiesession', pid: zombiePid, startTime: stat[19] });
      const observation = await setup.runner.observe(handle);
      assert.equal(observation.state, 'exited', JSON.stringify(observation));
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('stop() also ends what the tool left behind in its process group', async () => {
    const launch = await setup.launch('leaves-child');
    const handle = await start(launch);
    const leftoverFile = join(workspaceOf(setup.workDir, launch), 'leftover.pid');
    const leftover = await eventually('the tool to start its child', () => pidFile(leftoverFile) || undefined, 30_000);
    assert.ok(processRuns(leftover));
    await setup.runner.stop(handle, 5);
    assert.equal(processRuns(leftover), false, 'the SIGTERM-deaf child of the tool survived stop()');
    assert.equal(processRuns(agentPidOf(handle)), false);
  });

  it('a stop grace shorter than the launch\'s still ends a SIGTERM-deaf tool', async () => {
    const launch = await setup.launch('ignores-sigterm', { gracePeriodS: 600 });
    const handle = await start(launch);
    await runningThroughProxy(launch);
    const toolPid = pidFile(join(workspaceOf(setup.workDir, launch), 'tool.pid'))!;
    await setup.runner.stop(handle, 1);
    assert.equal(processRuns(toolPid), false);
    assert.equal(processRuns(agentPidOf(handle)), false);
  });

  it('logs() returns the last MiB of the output', async () => {
    const launch = await setup.launch('chatty');
    const handle = await start(launch);
    await runningThroughProxy(launch);
    const logs = await setup.runner.logs(handle);
    assert.ok(logs.length <= 1024 * 1024, `logs() returned ${logs.length} bytes`);
    assert.ok(logs.length > 512 * 1024);
    assert.match(logs, new RegExp(`last chatter ${launch.sessionId}`));
    assert.doesNotMatch(logs, /chatter 0 /);
    await setup.runner.stop(handle, 5);
  });

  it('keeps the workspace directory between runs; remove() drops the record and the log but not the workspace', async () => {
    const first = await setup.launch('normal', { workspaceVolume: 'kept-workspace' });
    const firstHandle = await start(first);
    await runningThroughProxy(first);
    await setup.runner.stop(firstHandle, 5);
    await setup.runner.remove(firstHandle);
    assert.equal(await setup.runner.logs(firstHandle), '');
    assert.equal((await setup.runner.observe(firstHandle)).state, 'missing');

    const second = await setup.launch('normal', { workspaceVolume: 'kept-workspace' });
    const secondHandle = await start(second);
    await runningThroughProxy(second);
    const runs = await readFile(join(setup.workDir, 'workspaces', 'kept-workspace', 'runs'), 'utf8');
    assert.deepEqual(runs.trim().split('\n'), [first.sessionId, second.sessionId]);
    await setup.runner.remove(secondHandle);
    assert.equal(processRuns(agentPidOf(secondHandle)), false, 'remove() of a running session ends it');
    assert.ok(existsSync(join(setup.workDir, 'workspaces', 'kept-workspace', 'runs')));
  });

  it('check() says why when the work directory cannot be written', async () => {
    const file = join(setup.workDir, 'a-file');
    await writeFile(file, '');
    const check = await new LocalRunner({ workDir: join(file, 'sessions') }).check();
    assert.equal(check.available, false);
    assert.match(check.available === false ? check.reason : '', /work directory .* is not writable/);
  });
});
