// Races of the session controller: the real controller, StudioStore, ConnectSessions and LocalRunner over a
// temporary SQLite database; only the runner's start is gated (a slow or failing pull, as a docker or kubernetes
// runner has) and the build submission is a stand-in (the builder is not what is under test).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { openDatabase, type OpenedDatabase } from '../../../src/db/database.ts';
import { IdentityStore, type User, type Workspace } from '../../../src/identity/identity-store.ts';
import { ConnectSessions } from '../../../src/connect/connect-sessions.ts';
import { LocalRunner } from '../../../src/studios/runners/local-runner.ts';
import { RunnerError, type SessionLaunch } from '../../../src/studios/runners/runner.ts';
import { SessionController, type SessionCompute } from '../../../src/studios/sessions/session-controller.ts';
import { SessionLogs } from '../../../src/studios/sessions/session-logs.ts';
import { StudioStore, type StudioDefinition } from '../../../src/studios/sessions/studio-store.ts';
import type { StudiosConfig } from '../../../src/config/schema.ts';

const web = `require('node:http').createServer((q, s) => s.end('up')).listen(Number(process.argv[1]), '127.0.0.1')`;

/** The real local runner, whose start waits for `open()` first and then either starts or fails (a slow pull). */
class GatedRunner extends LocalRunner {
  starts = 0;
  handles: string[] = [];
  private gates: Array<() => void> = [];
  failWith: RunnerError | null = null;
  override async start(launch: SessionLaunch, progress: (message: string) => void): Promise<string> {
    this.starts++;
    await new Promise<void>((resolve) => this.gates.push(resolve));
    if (this.failWith) throw this.failWith;
    const handle = await super.start(launch, progress);
    this.handles.push(handle);
    return handle;
  }
  get waiting(): number { return this.gates.length; }
  open(): void { for (const gate of this.gates.splice(0)) gate(); }
}

let dir: string;
let database: OpenedDatabase;
let identity: IdentityStore;
let sessions: ConnectSessions;
let store: StudioStore;
let user: User;
let workspace: Workspace;
const runners: GatedRunner[] = [];

const config = { forceStopAfterS: 2, startTimeoutS: 1, gracePeriodS: 1, idleStopMinutes: 0, reconcileIntervalS: 1 } as StudiosConfig;

async function setup(platform: 'local' | 'docker', submitDelayMs = 0) {
  const runner = new GatedRunner({ workDir: join(dir, `sessions-${runners.length}`) });
  runners.push(runner);
  const envId = `ce_${runners.length}`;
  const now = Date.now();
  await database.db.insertInto('compute_envs').values({ id: envId, workspace_id: workspace.id, name: envId, platform, config: '{}', credential_name: null, status: 'AVAILABLE', status_reason: null, checked_at: now, created_by: null, created_at: now, updated_at: now }).execute();
  const compute: SessionCompute = { id: envId, name: envId, platform, unavailable: null, runner };
  const logs: string[] = [];
  const controller = new SessionController({
    store, sessions, logs: new SessionLogs(join(dir, 'kept')),
    builds: {
      needsBuild: (studio: { definition: StudioDefinition }) => studio.definition.configuration.condaEnvironment !== null,
      wait: async (submitted: { image: string }) => ({ state: 'succeeded', image: submitted.image }),
      outcome: async () => ({ state: 'running' }),
      cancel: async () => undefined,
    } as never,
    compute: async () => compute,
    tool: () => ({ hostCommand: [process.execPath, '-e', web, '{port}'] }),
    agentEnvironment: async (studio, _platform, token) => ({ BERTH_CONNECT_URL: 'http://127.0.0.1:9', BERTH_SESSION_ID: studio.sessionId, BERTH_SESSION_TOKEN: token }),
    pullCredentials: async () => null,
    lifespanHours: async () => 0,
    names: async () => ({ workspaceSlug: workspace.slug, userName: user.name }),
    config,
    log: (line) => logs.push(line),
  });
  let submissions = 0;
  const startedBy = {
    userId: user.id,
    credential: { kind: 'api-token' as const, id: 'x' },
    submitBuild: async () => {
      const first = submissions++ === 0;
      if (first) await sleep(submitDelayMs);
      return { buildId: null, image: `img-${first ? 'first' : 'second'}`, cached: true };
    },
  };
  const newStudio = async (name: string, conda = false) => {
    const { session } = await sessions.create({ workspace, user, isPrivate: false });
    const definition: StudioDefinition = { templateKey: 'web', image: 'img', remoteConfig: null, configuration: { cpu: 1, memory: 512, gpu: 0, condaEnvironment: conda ? 'dependencies: [numpy]' : null, environment: {}, mountData: [], lifespanHours: 0 }, isPrivate: false, labels: [] };
    await store.create({ sessionId: session.id, workspaceId: workspace.id, userId: user.id, name, description: null, definition, computeEnvId: envId });
    return session.id;
  };
  return { runner, controller, startedBy, newStudio, logs };
}

const until = async (what: string, check: () => Promise<boolean> | boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await check())) { if (Date.now() > end) throw new Error(`timed out: ${what}`); await sleep(20); }
};

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review6-'));
  database = await openDatabase({ sqlitePath: join(dir, 'db.sqlite') });
  identity = new IdentityStore(database.db);
  sessions = new ConnectSessions(database.db, identity);
  store = new StudioStore(database.db);
  user = await identity.createUser({ name: 'alice' });
  workspace = (await identity.findWorkspace('alice'))!;
});
after(async () => {
  for (const runner of runners) runner.open();
  await sleep(1500); // gated starts let go now finish spawning
  for (const runner of runners) for (const handle of runner.handles) await runner.stop(handle, 0).catch(() => undefined);
  await database.close();
  await rm(dir, { recursive: true, force: true });
});

describe('session controller races', () => {
  it('a stop while the runner is starting, then the start fails: stopped at once, as the user asked', async () => {
    const { runner, controller, startedBy, newStudio } = await setup('local');
    const id = await newStudio('fails');
    await controller.start(id, startedBy);
    await until('runner.start called', () => runner.waiting === 1);
    assert.equal((await controller.stop(id)).status, 'stopping');
    runner.failWith = new RunnerError('IMAGE_PULL_FAILED', 'could not pull the image');
    runner.open();
    await until('stopped', async () => (await store.find(id))!.status === 'stopped');
    assert.equal((await store.find(id))!.stopReason, 'USER_REQUEST');
  });

  it('a runner start that hangs past startTimeoutS errors the session, and what it starts late is stopped', async () => {
    const { runner, controller, startedBy, newStudio } = await setup('local');
    const id = await newStudio('hangs');
    await controller.start(id, startedBy);
    await until('runner.start called', () => runner.waiting === 1);
    await until('errored by the start deadline', async () => {
      await controller.reconcile();
      return (await store.find(id))!.status === 'errored';
    });
    assert.match((await store.find(id))!.statusMessage ?? '', /did not start the session within 1 s/);
    runner.open();
    await until('the late start returned', () => runner.handles.length === 1);
    await until('the late session was stopped', async () => (await runner.observe(runner.handles[0]!)).state !== 'running');
    assert.equal((await store.find(id))!.run?.handle, null);
  });

  it('a stop while the runner start hangs ends FORCE_STOPPED after forceStopAfterS, and the late start is stopped', async () => {
    const { runner, controller, startedBy, newStudio } = await setup('local');
    const id = await newStudio('stuck-stopping');
    await controller.start(id, startedBy);
    await until('runner.start called', () => runner.waiting === 1);
    await controller.stop(id);
    await until('force-stopped', async () => {
      await controller.reconcile();
      return (await store.find(id))!.status === 'stopped';
    });
    assert.equal((await store.find(id))!.stopReason, 'FORCE_STOPPED');
    runner.open();
    await until('the late start returned', () => runner.handles.length === 1);
    await until('the late session was stopped', async () => (await runner.observe(runner.handles[0]!)).state !== 'running');
  });

  it('a stop during the build submission and a new start: the first launch leaves the new run alone', async () => {
    const { runner, controller, startedBy, newStudio } = await setup('docker');
    let submissions = 0;
    const slowSecond = { ...startedBy, submitBuild: async () => { const n = submissions++; await sleep(n === 0 ? 300 : 1000); return { buildId: null, image: n === 0 ? 'img-of-first-run' : 'img-of-second-run', cached: true }; } };
    const id = await newStudio('twice', true);
    await controller.start(id, slowSecond);
    await sleep(50);
    assert.equal((await controller.stop(id)).status, 'stopped');
    await controller.start(id, slowSecond);
    await until('the second launch reached runner.start', () => runner.waiting === 1, 5000);
    await controller.reconcile();
    const studio = (await store.find(id))!;
    assert.equal(studio.status, 'starting');
    assert.equal(studio.run?.image, 'img-of-second-run');
    assert.equal(runner.starts, 1, 'the first run never reached the runner');
    runner.open();
    await until('its handle is recorded', async () => (await store.find(id))!.run?.handle !== null);
    await controller.stop(id);
    await until('stopped', async () => (await store.find(id))!.status === 'stopped');
  });
});
