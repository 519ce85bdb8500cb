/**
 * The seam between the build service and the tool that turns a Dockerfile into an image and pushes it.
 * One file per implementation (`buildah-executor.ts`, `docker-executor.ts`; a Kubernetes executor running a
 * rootless BuildKit job can follow), all checked by test/builder/executors/build-executor.contract.ts.
 *
 * The service owns the queue, the timeout, the log store and the statuses; an executor only builds one
 * request at a time per call and may be called concurrently for different requests.
 */

/** `linux/amd64`, `linux/arm64/v8`, … split into its parts. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A login for the registry the image is pushed to (and its base images pulled from). */
export interface RegistryLogin {
  /** `host[:port]` as it appears in image references. */
  registry: string;
  username: string;
  password: string;
  /** Plain http (and no TLS verification): Berth's own registry on loopback. */
  insecure: boolean;
}

export interface BuildJob {
  /** The build id; executors use it to name their scratch space and containers. */
  id: string;
  /** Dockerfile text (not a path: the service has validated it and may have generated it). */
  dockerfile: string;
  /**
   * A directory holding the build context, read-only for the executor. An executor that runs elsewhere
   * (a Kubernetes job) sends it as a tar; that is why the seam takes a directory and not a stream.
   * Everything in it is the context, exactly as the build id's context digest saw it: the service has
   * already applied `.dockerignore`, so executors apply no ignore rules, and a `.dockerignore` file at its
   * top is left out of what COPY/ADD see (as Docker leaves it out when it ignores itself).
   */
  contextDir: string;
  platform: Platform;
  /** The full reference to push: `host/workspace/repo:tag`. */
  target: string;
  /** Logins for the target's registry and any registry the Dockerfile pulls from. */
  logins: RegistryLogin[];
}

export interface BuildResult {
  /** The digest of the pushed manifest. */
  digest: string;
}

/** Where the failure happened, kept with the build as its error report. */
export interface FailureReport {
  /** The Dockerfile instruction that failed, e.g. `RUN micromamba install -y -f /tmp/conda.yml`, when known. */
  step?: string;
  /** 1-based index of that step among the Dockerfile's instructions, when known. */
  stepNumber?: number;
  /** The exit code of the failing command, when the tool reports one. */
  exitCode?: number;
  /** The last lines of the build output before the failure (at most `FAILURE_TAIL_LINES`). */
  lastLines: string[];
  /** One line saying what went wrong, in the tool's own words. */
  message: string;
}

export const FAILURE_TAIL_LINES = 40;

/** The build ran and failed (the Dockerfile, the context, the push): a user's problem, with a report. */
export class BuildFailed extends Error {
  constructor(readonly report: FailureReport) {
    super(report.message);
    this.name = 'BuildFailed';
  }
}

/** The executor cannot build at all (tool missing, daemon unreachable): an operator's problem. */
export class ExecutorUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExecutorUnavailable';
  }
}

export interface BuildExecutor {
  /** `buildah`, `docker`, … as named in configuration and in build records. */
  readonly name: string;

  /**
   * Resolves when the executor can build (the tool runs, the daemon answers); rejects with
   * ExecutorUnavailable saying why. For operators and health checks (at start, periodically), not for
   * every build's path: it may take a moment (`buildah info` reads the storage), and `build` reports an
   * unavailable tool itself. Idempotent.
   */
  check(): Promise<void>;

  /**
   * Builds `job` and pushes it to `job.target`, writing the tool's output to `log` as it comes (whole or
   * partial lines; the service splits them). Resolves with the pushed manifest's digest.
   *
   * Rejects with BuildFailed (with a report) when the build or the push fails, with ExecutorUnavailable when
   * the tool cannot run, and with the signal's reason when `signal` aborts — after stopping the build and
   * removing every container, scratch directory and intermediate image it made. Never leaves anything
   * behind, whatever the outcome; the credentials in `job.logins` never reach `log`.
   */
  build(job: BuildJob, log: (chunk: string) => void, signal: AbortSignal): Promise<BuildResult>;
}

/** Parses `os/arch[/variant]`; undefined when malformed. */
export function parsePlatform(value: string): Platform | undefined {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !/^[a-z0-9_]+$/.test(part))) return undefined;
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}
