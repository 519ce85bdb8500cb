/** The session state machine of DESIGN.md: statuses, what each may become, and why a session stopped. */

export const studioStatuses = ['building', 'buildFailed', 'starting', 'running', 'stopping', 'stopped', 'errored'] as const;
export type StudioStatus = (typeof studioStatuses)[number];

export const stopReasons = ['USER_REQUEST', 'LIFESPAN_EXPIRED', 'IDLE_TIMEOUT', 'FORCE_STOPPED', 'TOOL_EXITED'] as const;
export type StopReason = (typeof stopReasons)[number];

const next: Record<StudioStatus, readonly StudioStatus[]> = {
  building: ['starting', 'buildFailed', 'stopping', 'stopped', 'errored'],
  buildFailed: ['building', 'starting'],
  starting: ['running', 'errored', 'stopping'],
  running: ['stopping', 'stopped', 'errored'],
  stopping: ['stopped', 'errored'],
  stopped: ['building', 'starting'],
  errored: ['building', 'starting', 'stopping', 'stopped'],
};

export function mayBecome(from: StudioStatus, to: StudioStatus): boolean {
  return next[from].includes(to);
}

/** Statuses in which something may be running (or about to) on a runner. */
export const activeStatuses: readonly StudioStatus[] = ['building', 'starting', 'running', 'stopping'];

export function isActive(status: StudioStatus): boolean {
  return activeStatuses.includes(status);
}

/** Steps of a session's progress, in order. */
export const progressSteps = ['build', 'pull', 'start', 'connect', 'stop'] as const;
export type ProgressStep = (typeof progressSteps)[number];
export type ProgressStatus = 'pending' | 'in-progress' | 'succeeded' | 'errored' | 'skipped';
