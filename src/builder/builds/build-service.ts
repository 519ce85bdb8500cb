import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuilderConfig } from '../../config/schema.ts';
import type { IdentityStore } from '../../identity/identity-store.ts';
import { DigestLocks } from '../../registry/digest-locks.ts';
import { BuildFailed, ExecutorUnavailable, parsePlatform, type BuildExecutor, type FailureReport } from '../executors/build-executor.ts';
import { readBuildContext, writeContext } from './build-context.ts';
import type { BuildLogs, LogWriter } from './build-logs.ts';
import { buildIdOf, containerIdOf, targetImageOf } from './build-naming.ts';
import { BuildCancelled, BuildQueue } from './build-queue.ts';
import { isFinished, type BuildRecord, type BuildStore } from './build-store.ts';
import type { BuildCaller, BuildTargets, PushTarget } from './build-targets.ts';
import { ContainerRequestError, type BuildDefinition, type ContainerRequest, type ContextFile } from './container-request.ts';

/** The answer to a container request, in Wave's terms. */
export interface ContainerResponse {
  requestId: string;
  /** The image to use: the built one, or the requested image when nothing needs building. */
  targetImage: string;
  containerImage: string;
  buildId: string | null;
  /** True when the image already existed and nothing was built; null when no build was involved. */
  cached: boolean | null;
  freeze: boolean;
  /** Known once the build has ended; null while it is pending or running. */
  succeeded: boolean | null;
  status: BuildRecord['status'] | null;
}

export interface BuildServiceDeps {
  store: BuildStore;
  logs: BuildLogs;
  targets: BuildTargets;
  identity: IdentityStore;
  executor: BuildExecutor;
  config: BuilderConfig;
  /** Scratch space: one directory per build for its context, removed when the build ends. */
  workDir: string;
  log: (line: string) => void;
}

/**
 * Turns container requests into builds: names them by content, answers at once when the image exists,
 * lets identical requests share one build, queues the rest and runs them on the executor with a timeout,
 * keeping the log and, on failure, an error report. Builds outlive a restart: `recover` re-queues them.
 */
export class BuildService {
  private readonly queue: BuildQueue;
  private readonly locks = new DigestLocks();

  constructor(private readonly deps: BuildServiceDeps) {
    this.queue = new BuildQueue(deps.config.concurrency);
  }

  async submit(request: ContainerRequest, caller: BuildCaller, workspaceSlug: string): Promise<ContainerResponse> {
    const requestId = randomBytes(8).toString('hex');
    if (request.kind === 'image') {
      return { requestId, targetImage: request.containerImage, containerImage: request.containerImage, buildId: null, cached: null, freeze: false, succeeded: true, status: null };
    }
    const workspace = await this.deps.identity.findWorkspace(workspaceSlug);
    if (!workspace) throw new ContainerRequestError(`Unknown workspace '${workspaceSlug}'`);
    const repository = request.buildRepository ?? this.deps.targets.defaultRepository(caller, workspaceSlug);
    const target = await this.deps.targets.resolve(repository, caller, workspace.id);
    const build = request.buildContext ? { ...request.build, context: await readBuildContext(request.buildContext, this.deps.config) } : request.build;
    // Outside Berth the workspace's credential pushes, so two workspaces never share such a build.
    const pushedAs = target.local ? repository : `${repository} as workspace ${target.workspaceId}`;
    const containerId = containerIdOf({ ...build, repository: pushedAs, contextDigest: build.context?.digest ?? null });
    const targetImage = targetImageOf(repository, containerId, build.condaFile, request.nameStrategy);
    const record = await this.locks.run(containerId, () => this.findOrStart(containerId, targetImage, target, build, caller, request.dryRun));
    const response = { requestId, targetImage, containerImage: targetImage, freeze: request.freeze };
    if (record === 'dry-run') return { ...response, buildId: buildIdOf(containerId, 0), cached: false, succeeded: null, status: null };
    const cached = record.status === 'succeeded' && record.cached;
    return { ...response, buildId: record.id, cached, succeeded: succeededOf(record.status), status: record.status };
  }

  find(id: string): Promise<BuildRecord | undefined> {
    return this.deps.store.find(id);
  }

  list(workspaceIds: string[] | 'all', page: { max: number; offset: number }): Promise<BuildRecord[]> {
    return this.deps.store.list(workspaceIds, page);
  }

  /** Cancels a pending or running build; false when it had already ended. */
  async cancel(id: string, by: string): Promise<boolean> {
    const record = await this.deps.store.find(id);
    if (!record || isFinished(record.status)) return false;
    if (record.status === 'pending') {
      this.queue.cancel(id, by);
      return this.finishCancelled(record, by);
    }
    return this.queue.cancel(id, by);
  }

  /**
   * At start: says whether the executor can build (a build on a broken executor fails with the reason
   * anyway, so this is for the operator), then re-queues builds a previous run left pending or building
   * (once), or fails them saying why.
   */
  async recover(): Promise<void> {
    // Not awaited: `buildah info` may take a moment, and readiness does not depend on it.
    void this.deps.executor.check().then(
      () => this.deps.log(`builder: builds run with ${this.deps.executor.name}`),
      (error: Error) => this.deps.log(`builder: the ${this.deps.executor.name} executor cannot build: ${error.message}`),
    );
    for (const record of await this.deps.store.unfinished()) {
      // Still `building`: Berth stopped without stopping the build (a crash, a kill), which may be the build's doing.
      if (record.status === 'building' && record.attempts >= 2) {
        await this.deps.store.finish(record.id, { status: 'failed', exitStatus: 1, report: { message: 'Berth stopped twice while this build was running; request it again to retry', lastLines: [] } });
        await this.removeContext(record.id);
        continue;
      }
      if (await this.deps.store.requeue(record.id)) {
        this.deps.log(`build ${record.id}: re-queued after a restart`);
        this.enqueue(record.id);
      }
    }
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  private async findOrStart(
    containerId: string,
    targetImage: string,
    target: PushTarget,
    build: BuildDefinition,
    caller: BuildCaller,
    dryRun: boolean,
  ): Promise<(BuildRecord & { cached: boolean }) | 'dry-run'> {
    const latest = await this.deps.store.latestOf(containerId);
    if (latest && (latest.status === 'pending' || latest.status === 'building')) return { ...latest, cached: false };
    const failedRecently = latest?.status === 'failed' && (latest.finishedAt ?? 0) > Date.now() - this.deps.config.failedRetryS * 1000;
    if (failedRecently) return { ...latest, cached: false };
    const existing = await this.deps.targets.existingDigest(target, targetImage);
    if (existing) {
      if (latest?.status === 'succeeded') return { ...latest, cached: true };
      return { ...(await this.recordExisting(existing, containerId, targetImage, target, build, caller)), cached: true };
    }
    if (dryRun) return 'dry-run';
    const id = await this.nextBuildId(containerId);
    // The context is on disk before the build exists, so a build never waits on a context it does not have.
    if (build.context) await this.writeContextOf(id, build.context.files);
    const record = await this.insertBuild(id, containerId, targetImage, target, build, caller);
    this.enqueue(record.id);
    return { ...record, cached: false };
  }

  /** An image that exists without a build record here (pushed by hand, or the records were lost). */
  private async recordExisting(digest: string, containerId: string, targetImage: string, target: PushTarget, build: BuildDefinition, caller: BuildCaller): Promise<BuildRecord> {
    const { id } = await this.insertBuild(await this.nextBuildId(containerId), containerId, targetImage, target, build, caller);
    await this.deps.store.finish(id, { status: 'succeeded', digest });
    return (await this.deps.store.find(id))!;
  }

  private async nextBuildId(containerId: string): Promise<string> {
    return buildIdOf(containerId, (await this.deps.store.countOf(containerId)) + 1);
  }

  private insertBuild(id: string, containerId: string, targetImage: string, target: PushTarget, build: BuildDefinition, caller: BuildCaller): Promise<BuildRecord> {
    return this.deps.store.insert({
      id,
      containerId,
      workspaceId: target.workspaceId,
      userId: caller.user.id,
      credential: caller.credential,
      targetImage,
      push: this.deps.targets.pushOf(target, targetImage),
      dockerfile: build.dockerfile,
      condaFile: build.condaFile,
      platform: build.platform,
      contextDigest: build.context?.digest ?? null,
    });
  }

  private enqueue(id: string): void {
    this.queue.enqueue(id, (signal) => this.run(id, signal));
  }

  private async run(id: string, cancel: AbortSignal): Promise<void> {
    const { store, executor, config } = this.deps;
    if (!(await store.markBuilding(id, executor.name))) return;
    const secrets: string[] = [];
    const signal = AbortSignal.any([cancel, AbortSignal.timeout(config.timeoutS * 1000)]);
    let writer: LogWriter | undefined;
    let keepContext = false;
    try {
      writer = await this.deps.logs.open(id, (text) => secrets.reduce((out, secret) => out.split(secret).join('****'), text));
      const record = (await store.find(id))!;
      const user = await this.deps.identity.findUserById(record.userId);
      const push = this.deps.targets.pushReference(record.push);
      writer.write(`[berth] build ${id} with ${executor.name} for ${record.platform}, attempt ${record.attempts}\n[berth] target ${record.targetImage}\n`);
      const logins = await this.deps.targets.logins(record.push, { userId: record.userId, userName: user?.name ?? 'unknown', credential: record.credential, workspaceId: record.workspaceId });
      secrets.push(...logins.map((login) => login.password));
      const result = await executor.build(
        { id, dockerfile: record.dockerfile, contextDir: await this.ensureContext(id), platform: parsePlatform(record.platform)!, target: push, logins },
        (chunk) => writer?.write(chunk),
        signal,
      );
      writer.write(`[berth] pushed ${record.targetImage}@${result.digest}\n`);
      await store.finish(id, { status: 'succeeded', digest: result.digest });
    } catch (error) {
      const reason = signal.reason;
      if (reason instanceof BuildCancelled && reason.by === 'shutdown') {
        keepContext = true;
        writer?.write('[berth] Berth is shutting down; the build will run again at the next start\n');
        await store.requeue(id, { refund: true });
        return;
      }
      const outcome = this.failureOf(error, reason);
      writer?.write(`[berth] ${outcome.status}: ${outcome.report.message}\n`);
      await store.finish(id, outcome);
    } finally {
      writer?.close();
      if (!keepContext) await this.removeContext(id);
    }
  }

  private failureOf(error: unknown, reason: unknown): { status: 'failed' | 'cancelled'; report: FailureReport; exitStatus: number } {
    if (reason instanceof BuildCancelled) return { status: 'cancelled', exitStatus: 130, report: { message: `build cancelled by ${reason.by}`, lastLines: [] } };
    if (reason instanceof DOMException && reason.name === 'TimeoutError') {
      return { status: 'failed', exitStatus: 124, report: { message: `build timed out after ${this.deps.config.timeoutS} s`, lastLines: [] } };
    }
    if (error instanceof BuildFailed) return { status: 'failed', exitStatus: error.report.exitCode ?? 1, report: error.report };
    if (error instanceof ExecutorUnavailable) return { status: 'failed', exitStatus: 1, report: { message: `the build executor is unavailable: ${error.message}`, lastLines: [] } };
    this.deps.log(`build failed unexpectedly: ${(error as Error)?.stack ?? String(error)}`);
    return { status: 'failed', exitStatus: 1, report: { message: `internal error: ${(error as Error)?.message ?? String(error)}`, lastLines: [] } };
  }

  private async finishCancelled(record: BuildRecord, by: string): Promise<boolean> {
    const done = await this.deps.store.finish(record.id, { status: 'cancelled', exitStatus: 130, report: { message: `build cancelled by ${by}`, lastLines: [] } });
    // Opening the log wakes anyone following the build while it waited.
    const writer = await this.deps.logs.open(record.id, (text) => text);
    writer.write(`[berth] cancelled by ${by} before it started\n`);
    writer.close();
    await this.removeContext(record.id);
    return done;
  }

  private async writeContextOf(id: string, files: ContextFile[]): Promise<void> {
    try {
      await writeContext(this.contextDir(id), files);
    } catch (error) {
      await this.removeContext(id);
      throw new ContainerRequestError(`Invalid build context: ${(error as Error).message}`);
    }
  }

  private contextDir(id: string): string {
    return join(this.deps.workDir, id, 'context');
  }

  /** The build's context directory; an empty one for builds without context files. */
  private async ensureContext(id: string): Promise<string> {
    await writeContext(this.contextDir(id), []);
    return this.contextDir(id);
  }

  private removeContext(id: string): Promise<void> {
    return rm(join(this.deps.workDir, id), { recursive: true, force: true });
  }
}

function succeededOf(status: BuildRecord['status']): boolean | null {
  if (status === 'succeeded') return true;
  return isFinished(status) ? false : null;
}
