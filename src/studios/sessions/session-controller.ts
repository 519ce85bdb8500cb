import type { StudiosConfig } from '../../config/schema.ts';
import type { ConnectSessions } from '../../connect/connect-sessions.ts';
import type { AgentEvent } from '../../connect/tunnel/tunnel-protocol.ts';
import { DigestLocks } from '../../registry/digest-locks.ts';
import { RunnerError, type Runner, type RunnerPlatform, type SessionLaunch } from '../runners/runner.ts';
import type { SessionBuilds, SubmitBuild } from './session-builds.ts';
import type { SessionLogs } from './session-logs.ts';
import { isActive, type ProgressStatus, type ProgressStep, type StopReason, type StudioStatus } from './session-status.ts';
import { StudioConflict, type Studio, type StudioEvent, type StudioRun, type StudioStore } from './studio-store.ts';

/** The compute environment a session runs on, and its runner. */
export interface SessionCompute {
  id: string;
  name: string;
  platform: RunnerPlatform;
  /** Why sessions cannot start there now; null when AVAILABLE. */
  unavailable: string | null;
  runner: Runner;
}

/** What a session's tool is, from its template (or a custom image). */
export interface SessionTool {
  /** Local runner: the command on the Berth host. */
  hostCommand: string[] | null;
}

export interface SessionControllerDeps {
  store: StudioStore;
  logs: SessionLogs;
  sessions: ConnectSessions;
  builds: SessionBuilds;
  /** The compute environment by id; undefined when it was deleted. */
  compute: (computeEnvId: string) => Promise<SessionCompute | undefined>;
  tool: (studio: Studio) => SessionTool;
  /** Workspace slug and the session's env for its agent: where it dials Berth (depends on the platform). */
  agentEnvironment: (studio: Studio, platform: RunnerPlatform, agentToken: string) => Promise<Record<string, string>>;
  /** A login that pulls `image` for the user who started the session, when the image is in Berth's registry. */
  pullCredentials: (image: string, run: StudioRun) => Promise<{ username: string; password: string } | null>;
  /** Lifespan in hours for a new run (studio's own, else the workspace's, else the server's); 0 = none. */
  lifespanHours: (studio: Studio) => Promise<number>;
  names: (studio: Studio) => Promise<{ workspaceSlug: string; userName: string }>;
  config: StudiosConfig;
  log: (line: string) => void;
}

export type StudioChange = { kind: 'progress'; event: StudioEvent } | { kind: 'status'; studio: Studio };

/**
 * Drives sessions through the state machine of DESIGN.md: build (through the builder) → compute (through
 * the runner) → the agent's `running` report → stop. The database holds the truth; this process only
 * remembers what it is doing right now, so a restart loses nothing: `reconcile` (run at start and every
 * few seconds) compares each active studio with its build, its runner and its agent, and moves it on.
 */
export class SessionController {
  private readonly locks = new DigestLocks();
  /** Sessions whose start (build, compute) is under way in this process. */
  private readonly launching = new Map<string, number>();
  /** Sessions whose runner is being stopped by this process. */
  private readonly stopping = new Set<string>();
  private readonly listeners = new Map<string, Set<(change: StudioChange) => void>>();
  private reconciling = false;

  constructor(private readonly deps: SessionControllerDeps) {}

  /** Starts a session of the studio: a build first when it has conda packages or a repository. */
  async start(sessionId: string, startedBy: { userId: string; credential: StudioRun['credential']; submitBuild: SubmitBuild }): Promise<Studio> {
    return this.locks.run(sessionId, async () => {
      const studio = await this.require(sessionId);
      if (isActive(studio.status)) throw new StudioConflict(`studio ${studio.name} is already ${studio.status}`);
      if (!studio.computeEnvId) throw new StudioConflict(`studio ${studio.name} has no compute environment (it was deleted): choose another one`);
      const compute = await this.deps.compute(studio.computeEnvId);
      if (!compute) throw new StudioConflict(`the compute environment of studio ${studio.name} was deleted: choose another one`);
      if (compute.unavailable) throw new StudioConflict(`compute environment ${compute.name} is not available: ${compute.unavailable}`);
      const needsBuild = this.deps.builds.needsBuild(studio);
      if (needsBuild && compute.platform === 'local') {
        throw new StudioConflict(`studio ${studio.name} needs an image built (conda packages or a repository), which runs in containers: choose a docker or kubernetes compute environment, not ${compute.name} (local)`);
      }
      const lifespanHours = await this.deps.lifespanHours(studio);
      const now = Date.now();
      const run: StudioRun = {
        computeEnvId: compute.id,
        platform: compute.platform,
        handle: null,
        buildId: null,
        image: studio.definition.image,
        startedAt: now,
        expiresAt: lifespanHours > 0 ? now + lifespanHours * 3_600_000 : null,
        stoppingSince: null,
        startedBy: startedBy.userId,
        credential: startedBy.credential,
      };
      const next = needsBuild ? 'building' : 'starting';
      await this.move(studio, next, { run, started: true, message: needsBuild ? 'preparing the build' : 'starting compute' });
      await this.progress(sessionId, 'build', needsBuild ? 'pending' : 'skipped', needsBuild ? 'waiting for the builder' : 'nothing to build');
      this.inBackground(sessionId, now, () => this.launch(sessionId, now, compute, startedBy.submitBuild));
      return this.require(sessionId);
    });
  }

  /** Stops the session (SIGTERM, then SIGKILL after the grace period). Stopping a stopped studio is a no-op. */
  async stop(sessionId: string, reason: StopReason = 'USER_REQUEST'): Promise<Studio> {
    return this.locks.run(sessionId, async () => {
      const studio = await this.require(sessionId);
      if (studio.status === 'building') {
        if (studio.run?.buildId) await this.deps.builds.cancel(studio.run.buildId);
        await this.move(studio, 'stopped', { stopReason: reason, message: 'stopped before the build finished' });
        return this.require(sessionId);
      }
      if (!['starting', 'running', 'errored'].includes(studio.status)) return studio;
      if (studio.status === 'errored' && !studio.run?.handle) return studio;
      const run = { ...studio.run!, stoppingSince: Date.now() };
      await this.move(studio, 'stopping', { stopReason: reason, run, message: 'stopping: SIGTERM sent to the tool' });
      this.finishStop(sessionId);
      return this.require(sessionId);
    });
  }

  /** Sets the running session's lifespan to `hours` from now (0 = no limit). */
  async extendLifespan(sessionId: string, hours: number): Promise<Studio> {
    return this.locks.run(sessionId, async () => {
      const studio = await this.require(sessionId);
      if (!studio.run || !isActive(studio.status)) throw new StudioConflict(`studio ${studio.name} is ${studio.status}: only a running session has a lifespan to extend`);
      await this.deps.store.updateRun(sessionId, { ...studio.run, expiresAt: hours > 0 ? Date.now() + hours * 3_600_000 : null });
      return this.require(sessionId);
    });
  }

  /** The session's output (agent and tool): live while it runs, else what its last run left. */
  async logs(studio: Studio): Promise<string> {
    const compute = studio.run?.handle ? await this.deps.compute(studio.run.computeEnvId) : undefined;
    const live = compute ? await compute.runner.logs(studio.run!.handle!).catch(() => '') : '';
    return live || this.deps.logs.last(studio.sessionId);
  }

  /** Keeps the session's output, then frees what the runner held for it. Never throws. */
  private async release(sessionId: string, compute: SessionCompute, handle: string): Promise<void> {
    try {
      const output = await compute.runner.logs(handle).catch(() => '');
      // a handle released twice (an errored run, then stopped) has nothing left: keep what the first release kept
      if (output) await this.deps.logs.keep(sessionId, output);
      await compute.runner.remove(handle);
    } catch (error) {
      this.deps.log(`studio ${sessionId}: freeing its session failed: ${(error as Error).message}`);
    }
  }

  /**
   * Forgets a deleted studio's sessions: their kept output, and the workspace volume on each compute
   * environment the studio names or last ran on. A volume that cannot be removed (its platform is down,
   * say) is logged and left: the studio is gone either way.
   */
  async forget(studio: Studio): Promise<void> {
    await this.deps.logs.forget(studio.sessionId);
    const envIds = new Set([studio.run?.computeEnvId, studio.computeEnvId].filter((id): id is string => typeof id === 'string'));
    for (const envId of envIds) {
      try {
        const compute = await this.deps.compute(envId);
        await compute?.runner.removeWorkspace(workspaceVolumeOf(studio.sessionId));
      } catch (error) {
        this.deps.log(`studio ${studio.sessionId}: its workspace volume on compute environment ${envId} was not removed: ${(error as Error).message}`);
      }
    }
  }

  /** Follows a studio's progress events and status changes; returns the unsubscribe function. */
  follow(sessionId: string, listener: (change: StudioChange) => void): () => void {
    let set = this.listeners.get(sessionId);
    if (!set) this.listeners.set(sessionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(sessionId);
    };
  }

  /** What an agent reported: `running` moves a starting session on; `stopped` ends a live one. */
  onAgentEvent(sessionId: string, event: AgentEvent): void {
    if (event.type !== 'status') return;
    void this.locks
      .run(sessionId, async () => {
        const studio = await this.deps.store.find(sessionId);
        if (!studio) return;
        if (event.status === 'running' && studio.status === 'starting') {
          await this.progress(sessionId, 'connect', 'succeeded', 'the tool accepts connections');
          await this.move(studio, 'running', { message: 'the tool accepts connections' });
        } else if (event.status === 'stopped' && (studio.status === 'running' || studio.status === 'starting')) {
          await this.toolEnded(studio, event.exitCode ?? null);
        }
      })
      .catch((error) => this.deps.log(`studio ${sessionId}: agent event failed: ${(error as Error).message}`));
  }

  /** One pass over every active studio; at start it also settles what a previous process left. */
  async reconcile(): Promise<void> {
    if (this.reconciling) return; // a slow pass (many sessions, a slow runner) is not overlapped by the next
    this.reconciling = true;
    try {
      for (const studio of await this.deps.store.listActive()) {
        await this.locks
          .run(studio.sessionId, () => this.reconcileOne(studio.sessionId))
          .catch((error) => this.deps.log(`studio ${studio.sessionId}: reconcile failed: ${(error as Error).message}`));
      }
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOne(sessionId: string): Promise<void> {
    const studio = await this.deps.store.find(sessionId);
    if (!studio || !studio.run) return;
    if (this.launching.get(sessionId) === studio.run.startedAt) return this.reconcileLaunching(studio);
    const now = Date.now();
    if (studio.status === 'stopping') {
      // even while this process's own stop still waits on the runner: that wait is what went wrong
      if (now - (studio.run.stoppingSince ?? studio.statusAt) > this.deps.config.forceStopAfterS * 1000) return this.forceStop(studio);
      this.finishStop(sessionId);
      return;
    }
    if (this.stopping.has(sessionId)) return;
    if (studio.status === 'building') return this.reconcileBuilding(studio);
    const compute = await this.deps.compute(studio.run.computeEnvId);
    if (!studio.run.handle || !compute) {
      await this.move(studio, 'errored', { message: compute ? 'Berth stopped while the session was being started' : 'its compute environment was deleted' });
      return;
    }
    const seen = await compute.runner.observe(studio.run.handle);
    if (seen.state !== 'running') {
      const agent = await this.deps.sessions.find(sessionId);
      const exitCode = seen.state === 'exited' ? seen.exitCode : (agent?.exitCode ?? null);
      if (agent?.agentStatus === 'stopped' && studio.status === 'running' && (exitCode ?? 0) === 0) return this.toolEnded(studio, 0);
      await this.move(studio, 'errored', { message: `the session ended unexpectedly: ${seen.reason}` });
      void this.release(studio.sessionId, compute, studio.run.handle);
      return;
    }
    if (studio.status === 'starting') {
      const agent = await this.deps.sessions.find(sessionId);
      if (agent?.agentStatus === 'running') {
        await this.progress(sessionId, 'connect', 'succeeded', 'the tool accepts connections');
        return void (await this.move(studio, 'running', { message: 'the tool accepts connections' }));
      }
      if (now - studio.statusAt > this.deps.config.startTimeoutS * 1000) {
        await this.move(studio, 'errored', { message: `the tool did not accept connections within ${this.deps.config.startTimeoutS} s` });
        const handle = studio.run.handle;
        void compute.runner.stop(handle, 0).then(() => this.release(sessionId, compute, handle), () => undefined);
      }
      return;
    }
    if (studio.status === 'running') {
      if (studio.run.expiresAt !== null && now >= studio.run.expiresAt) return this.stopLocked(studio, 'LIFESPAN_EXPIRED', 'its lifespan ended');
      const idleMs = this.deps.config.idleStopMinutes * 60_000;
      if (idleMs > 0) {
        const agent = await this.deps.sessions.find(sessionId);
        const lastActive = Math.max(agent?.lastActivityAt ?? 0, studio.statusAt);
        if (now - lastActive >= idleMs) return this.stopLocked(studio, 'IDLE_TIMEOUT', `no activity for ${this.deps.config.idleStopMinutes} min`);
      }
    }
  }

  /**
   * A session this process is still launching: only its deadlines apply (the launch itself moves it on). A
   * runner start that hangs past them is abandoned; the launch stops whatever it starts late.
   */
  private async reconcileLaunching(studio: Studio): Promise<void> {
    const since = Date.now() - studio.statusAt;
    if (studio.status === 'starting' && since > this.deps.config.startTimeoutS * 1000) {
      await this.progress(studio.sessionId, 'start', 'errored', `not started within ${this.deps.config.startTimeoutS} s`);
      await this.move(studio, 'errored', { message: `the compute environment did not start the session within ${this.deps.config.startTimeoutS} s` });
    } else if (studio.status === 'stopping' && Date.now() - (studio.run!.stoppingSince ?? studio.statusAt) > this.deps.config.forceStopAfterS * 1000) {
      await this.forceStop(studio);
    }
  }

  private async reconcileBuilding(studio: Studio): Promise<void> {
    if (!studio.run!.buildId) {
      await this.move(studio, 'errored', { message: 'Berth stopped while the build was being prepared: start the studio again' });
      return;
    }
    const outcome = await this.deps.builds.outcome(studio.run!.buildId);
    if (outcome.state === 'running') return;
    if (outcome.state === 'cancelled') return void (await this.move(studio, 'stopped', { stopReason: 'USER_REQUEST', message: 'the build was cancelled' }));
    if (outcome.state === 'failed') return this.buildFailed(studio, outcome.message);
    const compute = await this.deps.compute(studio.run!.computeEnvId);
    if (!compute) return void (await this.move(studio, 'errored', { message: 'its compute environment was deleted' }));
    await this.progress(studio.sessionId, 'build', 'succeeded', `built ${outcome.image}`);
    const runStartedAt = studio.run!.startedAt;
    this.inBackground(studio.sessionId, runStartedAt, () =>
      this.startCompute(studio.sessionId, runStartedAt, compute, outcome.image).catch((error) => this.fail(studio.sessionId, runStartedAt, error)),
    );
  }

  /**
   * Launches a run outside the studio's lock (builds and runner starts take long). A launch belongs to one run,
   * named by its start time, so that after a stop and a new start an older launch cannot act on the newer run.
   */
  private inBackground(sessionId: string, runStartedAt: number, launch: () => Promise<void>): void {
    this.launching.set(sessionId, runStartedAt);
    void launch().finally(() => {
      if (this.launching.get(sessionId) === runStartedAt) this.launching.delete(sessionId);
    });
  }

  /** Build (when needed), then compute. Runs outside the lock; each step re-reads the studio. */
  private async launch(sessionId: string, runStartedAt: number, compute: SessionCompute, submitBuild: SubmitBuild): Promise<void> {
    const ofThisRun = (studio: Studio) => studio.run?.startedAt === runStartedAt;
    try {
      let studio = await this.require(sessionId);
      let image = studio.definition.image;
      if (studio.status === 'building') {
        await this.progress(sessionId, 'build', 'in-progress', 'submitting the build');
        const submitted = await submitBuild(studio);
        studio = await this.require(sessionId);
        if (studio.status !== 'building' || !ofThisRun(studio)) return;
        await this.deps.store.updateRun(sessionId, { ...studio.run!, buildId: submitted.buildId, image: submitted.image });
        if (submitted.buildId) await this.progress(sessionId, 'build', 'in-progress', `build ${submitted.buildId} of ${submitted.image}`);
        const outcome = await this.deps.builds.wait(submitted);
        studio = await this.require(sessionId);
        if (studio.status !== 'building' || !ofThisRun(studio)) return;
        if (outcome.state === 'failed') return await this.buildFailed(studio, outcome.message);
        if (outcome.state !== 'succeeded') return;
        await this.progress(sessionId, 'build', 'succeeded', submitted.cached ? `${outcome.image} already exists` : `built ${outcome.image}`);
        image = outcome.image;
      }
      await this.startCompute(sessionId, runStartedAt, compute, image);
    } catch (error) {
      await this.fail(sessionId, runStartedAt, error);
    }
  }

  private async startCompute(sessionId: string, runStartedAt: number, compute: SessionCompute, image: string | null): Promise<void> {
    let studio = await this.require(sessionId);
    if (studio.run?.startedAt !== runStartedAt) return;
    if (studio.status === 'building') {
      if (!(await this.move(studio, 'starting', { message: 'starting compute', run: { ...studio.run!, image } }))) return;
      studio = await this.require(sessionId);
    }
    if (studio.status !== 'starting') return;
    const agentToken = await this.deps.sessions.rotateAgentToken(sessionId);
    const run = studio.run!;
    const names = await this.deps.names(studio);
    const launch: SessionLaunch = {
      sessionId,
      ...names,
      image: compute.platform === 'local' ? null : image,
      pullCredentials: image && compute.platform !== 'local' ? await this.deps.pullCredentials(image, run) : null,
      hostCommand: this.deps.tool(studio).hostCommand,
      env: { ...studio.definition.configuration.environment, ...(await this.deps.agentEnvironment(studio, compute.platform, agentToken)) },
      resources: { cpu: studio.definition.configuration.cpu, memoryMiB: studio.definition.configuration.memory, gpu: studio.definition.configuration.gpu },
      workspaceVolume: workspaceVolumeOf(sessionId),
      labels: { 'berth.managed': 'true', 'berth.session': sessionId, 'berth.workspace': names.workspaceSlug, 'berth.user': names.userName },
      gracePeriodS: this.deps.config.gracePeriodS,
    };
    if (launch.image === null && compute.platform !== 'local') throw new RunnerError('START_FAILED', 'the studio names no image to run');
    await this.progress(sessionId, 'start', 'in-progress', `starting on ${compute.name} (${compute.platform})`);
    const step: ProgressStep = compute.platform === 'local' ? 'start' : 'pull'; // the local runner pulls nothing
    const handle = await compute.runner.start(launch, (message) => void this.progress(sessionId, step, 'in-progress', message));
    const kept = await this.locks.run(sessionId, async () => {
      const latest = await this.require(sessionId);
      if (latest.run?.startedAt !== runStartedAt || (latest.status !== 'starting' && latest.status !== 'stopping')) return false;
      await this.deps.store.updateRun(sessionId, { ...latest.run, handle });
      if (latest.status === 'stopping') this.finishStop(sessionId);
      return true;
    });
    if (!kept) {
      // the run ended (stopped, timed out, started anew) while the runner was starting it
      this.deps.log(`studio ${sessionId}: a start that came too late is stopped again`);
      await compute.runner.stop(handle, 0).catch(() => undefined);
      await compute.runner.remove(handle).catch(() => undefined);
      return;
    }
    await this.progress(sessionId, 'start', 'succeeded', `compute started on ${compute.name}`);
    await this.progress(sessionId, 'connect', 'in-progress', 'waiting for the tool to accept connections');
  }

  /** Waits for the runner to stop the session, then frees it and records `stopped`. */
  private finishStop(sessionId: string): void {
    if (this.stopping.has(sessionId)) return;
    this.stopping.add(sessionId);
    const work = async () => {
      const studio = await this.require(sessionId);
      if (studio.status !== 'stopping') return;
      const compute = studio.run ? await this.deps.compute(studio.run.computeEnvId) : undefined;
      if (compute && studio.run?.handle) {
        await compute.runner.stop(studio.run.handle, this.deps.config.gracePeriodS);
        await this.release(sessionId, compute, studio.run.handle);
      }
      await this.locks.run(sessionId, async () => {
        const latest = await this.require(sessionId);
        if (latest.status !== 'stopping') return;
        if (!latest.run?.handle && compute) return; // still being started: startCompute calls us again with the handle
        await this.progress(sessionId, 'stop', 'succeeded', 'stopped');
        await this.move(latest, 'stopped', { stopReason: latest.stopReason, message: stoppedMessage(latest.stopReason) });
      });
    };
    void work()
      .catch((error) => this.deps.log(`studio ${sessionId}: stop failed: ${(error as Error).message}`))
      .finally(() => this.stopping.delete(sessionId));
  }


  private async forceStop(studio: Studio): Promise<void> {
    const compute = await this.deps.compute(studio.run!.computeEnvId);
    if (compute && studio.run!.handle) {
      await compute.runner.stop(studio.run!.handle, 0).catch(() => undefined);
      await this.release(studio.sessionId, compute, studio.run!.handle);
    }
    await this.progress(studio.sessionId, 'stop', 'succeeded', `killed after stopping for ${this.deps.config.forceStopAfterS} s`);
    await this.move(studio, 'stopped', { stopReason: 'FORCE_STOPPED', message: `the session did not stop within ${this.deps.config.forceStopAfterS} s and was killed` });
  }

  private async stopLocked(studio: Studio, reason: StopReason, why: string): Promise<void> {
    await this.move(studio, 'stopping', { stopReason: reason, run: { ...studio.run!, stoppingSince: Date.now() }, message: `stopping: ${why}` });
    this.finishStop(studio.sessionId);
  }

  private async toolEnded(studio: Studio, exitCode: number | null): Promise<void> {
    if (exitCode === 0 && studio.status === 'running') {
      await this.move(studio, 'stopped', { stopReason: 'TOOL_EXITED', message: 'the tool exited (code 0)' });
    } else {
      const when = studio.status === 'starting' ? ' before it accepted connections' : '';
      await this.move(studio, 'errored', { message: `the tool exited with code ${exitCode ?? 'unknown'}${when}` });
    }
    const compute = studio.run ? await this.deps.compute(studio.run.computeEnvId) : undefined;
    if (compute && studio.run?.handle) void this.release(studio.sessionId, compute, studio.run.handle);
  }

  private async buildFailed(studio: Studio, message: string): Promise<void> {
    await this.progress(studio.sessionId, 'build', 'errored', message);
    await this.move(studio, 'buildFailed', { message });
  }

  private async fail(sessionId: string, runStartedAt: number, error: unknown): Promise<void> {
    const message = error instanceof RunnerError || error instanceof StudioConflict ? error.message : `could not start the session: ${(error as Error).message}`;
    if (!(error instanceof RunnerError)) this.deps.log(`studio ${sessionId}: ${(error as Error).stack ?? error}`);
    await this.locks.run(sessionId, async () => {
      const studio = await this.deps.store.find(sessionId);
      if (!studio || studio.run?.startedAt !== runStartedAt || !isActive(studio.status)) return;
      if (studio.status === 'stopping') {
        // stopped while starting, and the start failed: nothing runs, so the stop is done
        if (!studio.run.handle) await this.move(studio, 'stopped', { stopReason: studio.stopReason, message: stoppedMessage(studio.stopReason) });
        return;
      }
      const step: ProgressStep = studio.status === 'building' ? 'build' : 'start';
      await this.progress(sessionId, step, 'errored', message);
      await this.move(studio, studio.status === 'building' && !(error instanceof RunnerError) ? 'buildFailed' : 'errored', { message });
    });
  }

  private async move(studio: Studio, to: StudioStatus, details: Parameters<StudioStore['transition']>[3]): Promise<boolean> {
    const moved = await this.deps.store.transition(studio.sessionId, studio.status, to, details);
    if (moved && !isActive(to)) await this.deps.sessions.revokeAgentToken(studio.sessionId);
    if (moved) {
      const latest = await this.deps.store.find(studio.sessionId);
      if (latest) this.emit(studio.sessionId, { kind: 'status', studio: latest });
    }
    return moved;
  }

  private async progress(sessionId: string, step: ProgressStep, status: ProgressStatus, message: string): Promise<void> {
    const event = await this.deps.store.addEvent({ sessionId, at: Date.now(), step, status, message });
    this.emit(sessionId, { kind: 'progress', event });
  }

  private emit(sessionId: string, change: StudioChange): void {
    for (const listener of this.listeners.get(sessionId) ?? []) listener(change);
  }

  private async require(sessionId: string): Promise<Studio> {
    const studio = await this.deps.store.find(sessionId);
    if (!studio) throw new StudioConflict(`studio ${sessionId} was deleted`);
    return studio;
  }
}

function stoppedMessage(reason: StopReason | null): string {
  if (reason === 'LIFESPAN_EXPIRED') return 'stopped: its lifespan ended';
  if (reason === 'IDLE_TIMEOUT') return 'stopped: it was idle';
  return 'stopped';
}

/** A studio's workspace volume is named after its session: every run of the studio mounts the same one. */
function workspaceVolumeOf(sessionId: string): string {
  return sessionId;
}
