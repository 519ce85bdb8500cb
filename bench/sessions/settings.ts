import { integerFromEnvironment } from '../support/environment.ts';

/** Who starts Jupyter: the tool on its own (the limit), JupyterHub 3, Berth. */
export type LauncherId = 'tool' | 'jupyterhub' | 'berth';

export const allLaunchers: LauncherId[] = ['tool', 'jupyterhub', 'berth'];

/** What one sessions benchmark run measures, from BENCH_* variables (see run.ts). */
export interface SessionBenchSettings {
  /** Measured sessions per launcher in each mode (the 20). */
  sessions: number;
  /** Sessions started at once in the concurrent mode (the 10); its batches are all this size. */
  parallel: number;
  /** Studios (JupyterHub: users) created, never started, for the control plane's memory. */
  memoryStudios: number;
  /** Between two readiness requests of one session, ms: the resolution of every start time. */
  pollMs: number;
  launchers: LauncherId[];
}

export function settingsFromEnvironment(): SessionBenchSettings {
  return {
    sessions: integerFromEnvironment('BENCH_SESSIONS', 20),
    parallel: integerFromEnvironment('BENCH_PARALLEL', 10),
    memoryStudios: integerFromEnvironment('BENCH_MEMORY_STUDIOS', 200, 0),
    pollMs: integerFromEnvironment('BENCH_POLL_MS', 20),
    launchers: launchersFromEnvironment(),
  };
}

/** BENCH_LAUNCHERS, e.g. "tool,jupyterhub": a subset, in the fixed order; all three when unset. */
function launchersFromEnvironment(): LauncherId[] {
  const raw = process.env.BENCH_LAUNCHERS;
  if (!raw) return allLaunchers;
  const chosen = raw.split(',').map((name) => name.trim());
  const unknown = chosen.filter((name) => !allLaunchers.includes(name as LauncherId));
  if (unknown.length > 0 || chosen.length === 0) throw new Error(`BENCH_LAUNCHERS names ${allLaunchers.join(', ')}, not "${raw}"`);
  return allLaunchers.filter((id) => chosen.includes(id));
}
