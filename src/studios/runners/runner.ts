/**
 * The Runner seam: where a studio's session runs (local processes, a Docker engine, Kubernetes). A runner
 * starts the session's agent with its tool, says what became of it, and stops it. It knows nothing of
 * studios, builds or the database: the session controller hands it a complete `SessionLaunch` and keeps
 * the returned handle. Every implementation passes test/studios/runners/runner.contract.ts.
 */

export type RunnerPlatform = 'local' | 'docker' | 'kubernetes';

export interface SessionResources {
  /** CPUs (fractions allowed). */
  cpu: number;
  /** Memory limit, MiB. */
  memoryMiB: number;
  /** GPUs (kubernetes: nvidia.com/gpu; docker: device requests; local: not supported when > 0). */
  gpu: number;
}

/** Everything a runner needs to start one session. */
export interface SessionLaunch {
  sessionId: string;
  workspaceSlug: string;
  userName: string;
  /**
   * The image to run (container runners), e.g. `127.0.0.1:8080/ws/studios/x@sha256:…`; null for the
   * local runner, which runs `hostCommand` instead.
   */
  image: string | null;
  /** Login for pulling `image`, when the registry needs one. */
  pullCredentials: { username: string; password: string } | null;
  /**
   * Local runner only: the tool command on the Berth host, with `{port}` and `{prefix}` to fill in
   * (the tool's port and path prefix).
   */
  hostCommand: string[] | null;
  /**
   * The agent's and the tool's environment: BERTH_CONNECT_URL, BERTH_SESSION_ID, BERTH_SESSION_TOKEN,
   * CONNECT_TOOL_PATH_PREFIX under path routing, and the studio's own variables. The runner adds
   * CONNECT_TOOL_PORT.
   */
  env: Record<string, string>;
  resources: SessionResources;
  /** Name of the persistent volume mounted at /workspace (container runners) or the directory used as the working directory (local). */
  workspaceVolume: string;
  /** Ownership labels (berth.session, berth.workspace, berth.user, berth.managed=true). */
  labels: Record<string, string>;
  /** SIGTERM to SIGKILL, seconds (30 by default). */
  gracePeriodS: number;
}

/** What the runner knows of a session it started. */
export type SessionObservation =
  | { state: 'running' }
  | { state: 'exited'; exitCode: number | null; reason: string }
  | { state: 'missing'; reason: string };

export type RunnerCheck = { available: true } | { available: false; reason: string };

/** A session the runner found carrying Berth's labels (for reconciliation after a restart). */
export interface LabelledSession {
  handle: string;
  sessionId: string;
}

export interface Runner {
  readonly platform: RunnerPlatform;
  /** Whether sessions can run here now (daemon reachable, credentials valid…); the reason when not. */
  check(): Promise<RunnerCheck>;
  /**
   * Starts the session; resolves once it has been handed to the platform (not when the tool answers:
   * the agent reports that). Returns an opaque handle, stored by the caller and given back below.
   * `progress` receives human lines (pulling…, creating…). Throws RunnerError when it cannot start.
   */
  start(launch: SessionLaunch, progress: (message: string) => void): Promise<string>;
  /** What became of a started session; works for handles of an earlier Berth process too. */
  observe(handle: string): Promise<SessionObservation>;
  /** SIGTERM, then SIGKILL after `gracePeriodS`; resolves when nothing runs any more. Idempotent. */
  stop(handle: string, gracePeriodS: number): Promise<void>;
  /** Frees what the session held besides its workspace volume (containers, pods, log files). Idempotent. */
  remove(handle: string): Promise<void>;
  /**
   * Deletes a workspace volume (SessionLaunch.workspaceVolume) and everything in it, for a studio that is
   * being deleted; one that does not exist is fine. Only for a workspace no session uses any more.
   */
  removeWorkspace(workspaceVolume: string): Promise<void>;
  /** The session's output so far (agent and tool), for `berth studios logs`. */
  logs(handle: string): Promise<string>;
  /** Sessions with Berth's labels this runner can see. */
  list(): Promise<LabelledSession[]>;
}

/** A runner could not do what was asked; `message` is for the studio's user (statusInfo.message). */
export class RunnerError extends Error {
  constructor(
    readonly code: 'UNAVAILABLE' | 'IMAGE_PULL_FAILED' | 'START_FAILED' | 'UNSUPPORTED' | 'NOT_FOUND',
    message: string,
  ) {
    super(message);
    this.name = 'RunnerError';
  }
}
