/**
 * The contract every Runner (src/studios/runners/runner.ts) passes, whatever its platform. Each runner's
 * test calls `runnerContract(name, setup)` with a fixture that knows how to make that platform's tool; the
 * cases here know nothing of processes, containers or pods, only of the seam.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Runner, SessionLaunch, SessionObservation } from '../../../src/studios/runners/runner.ts';
import { eventually } from '../../support/waiting.ts';

/** What the fixture's tool does: serve until stopped, ignore SIGTERM (so only SIGKILL ends it), or exit with code 3 at once. */
export type ToolBehaviour = 'normal' | 'ignores-sigterm' | 'exits-at-once';

export interface RunnerContractFixture {
  runner: Runner;
  /**
   * A launch (with a new sessionId each time) whose tool serves HTTP on $CONNECT_TOOL_PORT and answers
   * GET / with `hello <sessionId>` (a trailing newline is fine); env holds a real connect session's env
   * (or a fake one for fakes). behaviour: 'normal' | 'ignores-sigterm' | 'exits-at-once' (exit code 3).
   */
  launch(behaviour?: ToolBehaviour): Promise<SessionLaunch>;
  /**
   * When the runner really runs things: fetch the tool through Berth's proxy and return the body (or throw
   * while it does not answer; the contract tries again). Undefined for recorded/fake platforms.
   */
  reach?: (sessionId: string) => Promise<string>;
  /**
   * Whether anything of the session (agent, tool) still runs, looked up on the platform directly (process
   * table, engine, cluster) rather than through the runner. Undefined where there is nothing to look at.
   */
  stillRuns?: (handle: string, launch: SessionLaunch) => Promise<boolean>;
  /** Whether the launch's workspace volume exists, looked up on the platform directly (directory, engine volume, claim). */
  workspaceExists(launch: SessionLaunch): Promise<boolean>;
  /** False when the platform cannot tell a session's exit code (the contract then accepts null). Default true. */
  reportsExitCodes?: boolean;
  close(): Promise<void>;
}

/** Long enough for a container to be created and a tool to start on a loaded machine; never a measure of speed. */
const settleMs = 60_000;
const pollMs = 100;
/** Grace for tools that end on SIGTERM: they end long before it is over. */
const normalGraceS = 10;

export function runnerContract(name: string, setup: () => Promise<RunnerContractFixture>): void {
  describe(`Runner contract: ${name}`, () => {
    let fixture: RunnerContractFixture;
    /** Everything started here, stopped and removed at the end even when a case failed half-way. */
    const started: string[] = [];

    before(async () => {
      fixture = await setup();
    });

    after(async () => {
      if (!fixture) return;
      for (const handle of started) {
        await fixture.runner.stop(handle, 0).catch(() => undefined);
        await fixture.runner.remove(handle).catch(() => undefined);
      }
      await fixture.close();
    });

    async function start(behaviour: ToolBehaviour = 'normal'): Promise<{ handle: string; launch: SessionLaunch; progress: string[] }> {
      const launch = await fixture.launch(behaviour);
      const progress: string[] = [];
      const handle = await fixture.runner.start(launch, (message) => progress.push(message));
      started.push(handle);
      assert.equal(typeof handle, 'string');
      assert.ok(handle.length > 0, 'the handle is not empty');
      return { handle, launch, progress };
    }

    async function observedAs<S extends SessionObservation['state']>(handle: string, state: S): Promise<Extract<SessionObservation, { state: S }>> {
      let last: SessionObservation | undefined;
      try {
        return await eventually(`the session to be observed ${state}`, async () => {
          last = await fixture.runner.observe(handle);
          return last.state === state ? (last as Extract<SessionObservation, { state: S }>) : undefined;
        }, settleMs, pollMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}; last observed ${JSON.stringify(last)}\n${await logsOf(handle)}`);
      }
    }

    async function startRunning(behaviour: ToolBehaviour = 'normal') {
      const session = await start(behaviour);
      await observedAs(session.handle, 'running');
      return session;
    }

    /** The tool's own answer through the proxy, once the agent has reported it running. */
    async function reachTool(sessionId: string, reach: (sessionId: string) => Promise<string>): Promise<string> {
      let last: unknown;
      try {
        return await eventually(`session ${sessionId} answering through the proxy`, async () => {
          try {
            last = await reach(sessionId);
            return typeof last === 'string' && last.trim() === `hello ${sessionId}` ? last : undefined;
          } catch (error) {
            last = error;
            return undefined;
          }
        }, settleMs, pollMs);
      } catch (error) {
        throw new Error(`${(error as Error).message}; last answer: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
      }
    }

    async function logsOf(handle: string): Promise<string> {
      try {
        return `session logs:\n${await fixture.runner.logs(handle)}`;
      } catch (error) {
        return `(no logs: ${(error as Error).message})`;
      }
    }

    /**
     * After stop() resolved nothing of the session may run: the runner says so (exited, or missing where
     * stopping deletes, like a pod), and so does the platform.
     */
    async function assertEnded(handle: string, launch: SessionLaunch): Promise<void> {
      const observation = await fixture.runner.observe(handle);
      assert.ok(observation.state === 'exited' || observation.state === 'missing', `observed ${JSON.stringify(observation)} after stop() resolved`);
      if (fixture.stillRuns) assert.equal(await fixture.stillRuns(handle, launch), false, 'something of the session still runs on the platform after stop() resolved');
      if (fixture.reach) {
        const answer = await fixture.reach(launch.sessionId).catch((error: Error) => `(failed: ${error.message})`);
        assert.notEqual(answer.trim(), `hello ${launch.sessionId}`, 'the tool still answers through the proxy after stop() resolved');
      }
    }

    it('check() reports the platform available', async () => {
      assert.deepEqual(await fixture.runner.check(), { available: true });
    });

    it('a started session is eventually observed running; progress lines are strings', async () => {
      const { handle, progress } = await start();
      await observedAs(handle, 'running');
      for (const line of progress) assert.equal(typeof line, 'string');
    });

    it('the tool answers `hello <sessionId>` through the proxy once the agent reports it running', async (t) => {
      const reach = fixture.reach;
      if (!reach) return t.diagnostic('nothing really runs on this platform: no proxy to go through');
      const { launch } = await startRunning();
      await reachTool(launch.sessionId, reach);
    });

    it('list() includes a running session by its sessionId, and leaves it out once removed', async () => {
      const { handle, launch } = await startRunning();
      const listed = await fixture.runner.list();
      assert.ok(listed.some((entry) => entry.sessionId === launch.sessionId && typeof entry.handle === 'string' && entry.handle.length > 0), JSON.stringify(listed));
      await fixture.runner.stop(handle, normalGraceS);
      await fixture.runner.remove(handle);
      const afterRemove = await fixture.runner.list();
      assert.ok(!afterRemove.some((entry) => entry.sessionId === launch.sessionId), JSON.stringify(afterRemove));
    });

    it('logs() returns the output so far as a string', async () => {
      const { handle } = await startRunning();
      assert.equal(typeof (await fixture.runner.logs(handle)), 'string');
    });

    it('stop() of a normal tool resolves once nothing runs: observed exited, gone from the platform', async () => {
      const { handle, launch } = await startRunning();
      if (fixture.reach) await reachTool(launch.sessionId, fixture.reach);
      await fixture.runner.stop(handle, normalGraceS);
      await assertEnded(handle, launch);
      await fixture.runner.remove(handle);
      const removed = await fixture.runner.observe(handle);
      assert.ok(removed.state === 'exited' || removed.state === 'missing', JSON.stringify(removed));
    });

    it('stop() with a grace period of 1 s still ends a tool that ignores SIGTERM', async () => {
      const { handle, launch } = await startRunning('ignores-sigterm');
      if (fixture.reach) await reachTool(launch.sessionId, fixture.reach);
      await fixture.runner.stop(handle, 1);
      await assertEnded(handle, launch);
    });

    it('a tool that exits at once is eventually observed exited (with its exit code 3)', async () => {
      const { handle } = await start('exits-at-once');
      const exited = await observedAs(handle, 'exited');
      assert.equal(typeof exited.reason, 'string');
      if (fixture.reportsExitCodes === false) assert.ok(exited.exitCode === null || exited.exitCode === 3, JSON.stringify(exited));
      else assert.equal(exited.exitCode, 3, JSON.stringify(exited));
    });

    it('stop() and remove() are idempotent: twice on a running session', async () => {
      const { handle, launch } = await startRunning();
      await Promise.all([fixture.runner.stop(handle, normalGraceS), fixture.runner.stop(handle, normalGraceS)]);
      await fixture.runner.stop(handle, normalGraceS);
      await assertEnded(handle, launch);
      await fixture.runner.remove(handle);
      await fixture.runner.remove(handle);
      const observation = await fixture.runner.observe(handle);
      assert.ok(observation.state === 'exited' || observation.state === 'missing', JSON.stringify(observation));
    });

    it('stop() and remove() are idempotent on a session that already exited', async () => {
      const { handle } = await start('exits-at-once');
      await observedAs(handle, 'exited');
      await fixture.runner.stop(handle, normalGraceS);
      await fixture.runner.stop(handle, normalGraceS);
      const stopped = await fixture.runner.observe(handle);
      assert.ok(stopped.state === 'exited' || stopped.state === 'missing', JSON.stringify(stopped));
      await fixture.runner.remove(handle);
      await fixture.runner.remove(handle);
      await fixture.runner.stop(handle, normalGraceS);
      const observation = await fixture.runner.observe(handle);
      assert.ok(observation.state === 'exited' || observation.state === 'missing', JSON.stringify(observation));
    });

    it("removeWorkspace() deletes an ended session's workspace and leaves another's; twice, or for one never made, it resolves", async () => {
      const ended = await startRunning();
      const other = await startRunning();
      await fixture.runner.stop(ended.handle, normalGraceS);
      await fixture.runner.remove(ended.handle);
      assert.equal(await fixture.workspaceExists(ended.launch), true, 'stop() and remove() keep the workspace for the next run');
      await fixture.runner.removeWorkspace(ended.launch.workspaceVolume);
      assert.equal(await fixture.workspaceExists(ended.launch), false, 'the workspace is gone');
      assert.equal(await fixture.workspaceExists(other.launch), true, "another session's workspace is still there");
      await fixture.runner.removeWorkspace(ended.launch.workspaceVolume);
      await fixture.runner.removeWorkspace(`never${Date.now()}`);
      await fixture.runner.removeWorkspace('../not a name');
    });

    it('observe() of an unknown or garbage handle answers missing and never throws; stop() and remove() of one resolve', async () => {
      for (const handle of ['', 'garbage', '{}', '{"pid":', 'null', '[1,2]', '{"nonsense":true}', 'x'.repeat(300)]) {
        const observation = await fixture.runner.observe(handle);
        assert.equal(observation.state, 'missing', `observe(${JSON.stringify(handle)}) → ${JSON.stringify(observation)}`);
        assert.equal(typeof (observation as { reason: string }).reason, 'string');
        await fixture.runner.stop(handle, 1);
        await fixture.runner.remove(handle);
      }
    });
  });
}
