/**
 * Sessions benchmark (click-to-ready), in one run on this machine: the time from asking for a Jupyter
 * to Jupyter's first answer through the launcher's path, for
 *   - Jupyter alone: `jupyter notebook` spawned directly, first 200 on its own port (the limit);
 *   - JupyterHub 3 (Debian's `jupyterhub`): SimpleLocalProcessSpawner starting `jupyterhub-singleuser`,
 *     POST /hub/api/users/<u>/server → first 200 of /user/<u>/tree through its configurable-http-proxy;
 *   - Berth: POST /api/studios?workspaceId=admin&autoStart=true (Jupyter template, local compute
 *     environment) → first 200 of /tree through the studio proxy.
 * Sequentially and N at once; every session stopped and removed before the next measurement. Then,
 * last (its garbage collections slow a Node process down), the control plane's memory with 200 studios
 * (JupyterHub: 200 users) created and never started.
 * Prints medians and p90s, Berth ÷ JupyterHub, Berth − Jupyter alone, and the issue's targets as PASS/MISS.
 *
 *   node --import tsx bench/sessions/run.ts          (or `npm run bench -- sessions`)
 *
 * Environment: BENCH_SESSIONS (20 per launcher and mode), BENCH_PARALLEL (10 at once),
 * BENCH_MEMORY_STUDIOS (200; 0 skips the memory measurement), BENCH_POLL_MS (20, between readiness
 * requests), BENCH_LAUNCHERS (e.g. "tool,jupyterhub"; all three by default), BENCH_BERTH_NODE_FLAGS.
 * A quick run: BENCH_SESSIONS=4 BENCH_PARALLEL=2 BENCH_MEMORY_STUDIOS=20 npm run bench -- sessions
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cpuSeconds } from '../support/cpu.ts';
import { Cleanup } from '../support/cleanup.ts';
import { busyShare, formatBytes, median, residentBytes } from '../support/measure.ts';
import { startBerthStudios } from './berth-studios.ts';
import { jupyterHubVersions, startJupyterHub } from './jupyterhub.ts';
import type { IdleStudios, LaunchedSession, Launcher, PreparedSession } from './launchers.ts';
import { printReport, type ControlPlaneMemory, type LauncherResults, type ModeId } from './report.ts';
import { settingsFromEnvironment, type LauncherId, type SessionBenchSettings } from './settings.ts';
import { toolAlone } from './tool-alone.ts';

function progress(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

/** Session names unique over the whole run (studio names, hub users, directories): b-1, b-2, … */
let sessionCount = 0;
const nextName = () => `b-${++sessionCount}`;

async function startLauncher(id: LauncherId, workDir: string, pollMs: number, cleanup: Cleanup): Promise<Launcher> {
  switch (id) {
    case 'tool':
      return toolAlone(join(workDir, 'tool'), pollMs, cleanup);
    case 'jupyterhub':
      return startJupyterHub(join(workDir, 'jupyterhub'), pollMs, cleanup);
    case 'berth':
      return startBerthStudios(join(workDir, 'berth'), pollMs, cleanup);
  }
}

/** The launchers in another order for every round, so that drift in the machine's load favours none. */
function rotated<T>(items: T[], by: number): T[] {
  const shift = by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/**
 * Readies `count` sessions, then starts them all at once and waits for all; on any failure the others
 * are stopped too. Resolves with the sessions, still running.
 */
async function launchTogether(launcher: Launcher, count: number): Promise<LaunchedSession[]> {
  const prepared: PreparedSession[] = [];
  for (let i = 0; i < count; i++) prepared.push(await launcher.prepare(nextName()));
  const settled = await Promise.allSettled(prepared.map((session) => session.launch()));
  const launched = settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const failure = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure) {
    await stopAll(launched).catch(() => undefined);
    throw failure.reason;
  }
  return launched;
}

async function stopAll(sessions: LaunchedSession[]): Promise<void> {
  const outcomes = await Promise.allSettled(sessions.map((session) => session.stop()));
  const failure = outcomes.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failure) throw failure.reason;
}

/**
 * One mode: `rounds` rounds in which every launcher, in turn, starts `batch` sessions together,
 * is timed until all answer, and stops them all before the next launcher's turn.
 */
async function measureMode(
  mode: ModeId,
  launchers: Launcher[],
  results: Map<LauncherId, LauncherResults>,
  rounds: number,
  batch: number,
): Promise<void> {
  for (const launcher of launchers) {
    results.get(launcher.id)!.modes[mode] = { readyMs: [], requestMs: [], runningMs: [], controlPlaneCpuS: launcher.controlPlanePids.length > 0 ? 0 : null };
  }
  for (let round = 0; round < rounds; round++) {
    for (const launcher of rotated(launchers, round)) {
      const cpuBefore = controlPlaneCpu(launcher);
      const sessions = await launchTogether(launcher, batch);
      const times = results.get(launcher.id)!.modes[mode]!;
      if (times.controlPlaneCpuS !== null) times.controlPlaneCpuS += controlPlaneCpu(launcher) - cpuBefore;
      times.readyMs.push(...sessions.map((s) => s.readyMs));
      times.requestMs.push(...sessions.map((s) => s.requestMs));
      times.runningMs.push(...sessions.flatMap((s) => (s.runningMs === null ? [] : [s.runningMs])));
      await stopAll(sessions);
    }
    const summary = launchers.map((l) => `${l.label} ${median(results.get(l.id)!.modes[mode]!.readyMs).toFixed(0)} ms`).join(', ');
    progress(`${mode} round ${round + 1}/${rounds} (${batch} at once): medians so far ${summary}`);
  }
}

/** CPU seconds the launcher's own processes have used so far. */
function controlPlaneCpu(launcher: Launcher): number {
  return launcher.controlPlanePids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0);
}

/** RSS of the control plane's processes after 1 s idle and, for Node, a full GC. */
async function settledRss(launcher: Launcher, studios: IdleStudios): Promise<number> {
  await sleep(1_000);
  await studios.collectGarbage?.();
  await sleep(300);
  return launcher.controlPlanePids.reduce((sum, pid) => sum + (residentBytes(pid) ?? 0), 0);
}

/**
 * The control plane's RSS before and after `count` studios (JupyterHub: users) are created, one
 * request each, never started; they are removed afterwards. One created and removed first, unmeasured,
 * so that lazily loaded code does not count as the studios' memory.
 */
async function controlPlaneMemory(launcher: Launcher, studios: IdleStudios, count: number): Promise<ControlPlaneMemory> {
  await studios.remove([await studios.create(nextName())]);
  const emptyBytes = await settledRss(launcher, studios);
  const ids: string[] = [];
  const createMs: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    ids.push(await studios.create(nextName()));
    createMs.push(performance.now() - start);
  }
  const fullBytes = await settledRss(launcher, studios);
  await studios.remove(ids);
  return { count, emptyBytes, fullBytes, createMs };
}

async function measureMemory(settings: SessionBenchSettings, launchers: Launcher[], results: Map<LauncherId, LauncherResults>): Promise<void> {
  if (settings.memoryStudios === 0) return;
  for (const launcher of launchers) {
    if (!launcher.idleStudios) continue;
    const memory = await controlPlaneMemory(launcher, launcher.idleStudios, settings.memoryStudios);
    results.get(launcher.id)!.memory = memory;
    progress(`${launcher.label}: RSS ${formatBytes(memory.emptyBytes)} with no studios, ${formatBytes(memory.fullBytes)} with ${memory.count}`);
  }
}

async function loggedFailures(launchers: Launcher[]): Promise<string[]> {
  return (await Promise.all(launchers.map((launcher) => launcher.loggedFailures()))).flat();
}

async function main(): Promise<void> {
  const settings = settingsFromEnvironment();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  const launchers: Launcher[] = [];
  try {
    const workDir = await mkdtemp(join(tmpdir(), 'berth-bench-sessions-'));
    cleanup.defer(`removing ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
    for (const id of settings.launchers) {
      const launcher = await startLauncher(id, workDir, settings.pollMs, cleanup);
      launchers.push(launcher);
      progress(`${launcher.label} ready${launcher.controlPlanePids.length > 0 ? ` (pids ${launcher.controlPlanePids.join(', ')})` : ''}`);
    }
    const results = new Map(launchers.map((l) => [l.id, { id: l.id, label: l.label, setup: l.setup, modes: {} } as LauncherResults]));
    const busyBefore = await busyShare();
    for (const launcher of launchers) await stopAll(await launchTogether(launcher, 1)); // warm-up: disk caches, lazy code
    progress('warm-up sessions done');
    await measureMode('sequential', launchers, results, settings.sessions, 1);
    await measureMode('concurrent', launchers, results, Math.ceil(settings.sessions / settings.parallel), settings.parallel);
    // Memory last: its readings follow a full garbage collection through the inspector, after which a
    // Node process runs its heap lean and slower (see bench/proxy/run.ts), so nothing is timed after it.
    await measureMemory(settings, launchers, results);
    printReport({
      settings,
      results: [...results.values()],
      versions: await jupyterHubVersions(),
      background: { before: busyBefore, after: await busyShare() },
      loggedFailures: await loggedFailures(launchers),
    });
  } catch (error) {
    for (const line of await loggedFailures(launchers)) console.error(line.slice(0, 500));
    throw error;
  } finally {
    await cleanup.run();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
