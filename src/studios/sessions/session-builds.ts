import type { BuildService } from '../../builder/builds/build-service.ts';
import { isFinished, type BuildRecord } from '../../builder/builds/build-store.ts';
import type { BuildCaller, BuildTargets } from '../../builder/builds/build-targets.ts';
import { parseContainerRequest, type ContainerRequest, type NameStrategy, type RequestLimits } from '../../builder/builds/container-request.ts';
import type { Studio } from './studio-store.ts';

/** A build handed to the builder for a session, or the image that already existed. */
export interface SubmittedBuild {
  buildId: string | null;
  /** The image the session will run, as its runner pulls it. */
  image: string;
  cached: boolean;
}

export type BuildOutcome = { state: 'running' } | { state: 'succeeded'; image: string } | { state: 'failed'; message: string } | { state: 'cancelled' };

export interface BuildTarget {
  buildRepository: string;
  nameStrategy?: NameStrategy;
}

/** Submits a studio's build with the rights of whoever starts it (bound per request by the API). */
export type SubmitBuild = (studio: Studio) => Promise<SubmittedBuild>;

const base64 = (text: string) => Buffer.from(text).toString('base64');
const pollMs = 500;

/**
 * Sessions' builds: what a studio needs built (conda packages on its image, or its repository's Dockerfile or
 * environment), submitted to the builder like any other request, and how the build ended. Built images go to
 * the workspace's Studios container repository.
 */
export class SessionBuilds {
  constructor(
    private readonly deps: {
      builds: BuildService;
      targets: BuildTargets;
      limits: RequestLimits;
      /** A studio repository's container request (clone + plan), as the build API makes it. */
      repositoryRequest: (studio: Studio, target: BuildTarget) => Promise<ContainerRequest>;
      /** Where the workspace's studio images go (`host/path`) and how they are named. */
      buildTarget: (studio: Studio) => Promise<BuildTarget>;
      workspaceSlug: (studio: Studio) => Promise<string>;
    },
  ) {}

  needsBuild(studio: Studio): boolean {
    return studio.definition.remoteConfig !== null || studio.definition.configuration.condaEnvironment !== null;
  }

  async submit(studio: Studio, caller: BuildCaller): Promise<SubmittedBuild> {
    const target = await this.deps.buildTarget(studio);
    const request = studio.definition.remoteConfig
      ? await this.deps.repositoryRequest(studio, target)
      : parseContainerRequest(
          {
            packages: { type: 'CONDA', environment: base64(studio.definition.configuration.condaEnvironment ?? ''), condaOpts: studio.definition.image ? { baseImage: studio.definition.image } : undefined },
            ...target,
          },
          this.deps.limits,
        );
    const response = await this.deps.builds.submit(request, caller, await this.deps.workspaceSlug(studio));
    if (!response.buildId) return { buildId: null, image: response.targetImage, cached: true };
    const record = await this.deps.builds.find(response.buildId);
    return { buildId: response.buildId, image: record ? this.runnable(record) : response.targetImage, cached: response.cached === true };
  }

  /** Waits for the build to end (in this process; after a restart `outcome` is polled instead). */
  async wait(submitted: SubmittedBuild): Promise<BuildOutcome> {
    if (!submitted.buildId) return { state: 'succeeded', image: submitted.image };
    for (;;) {
      const outcome = await this.outcome(submitted.buildId);
      if (outcome.state !== 'running') return outcome;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  async outcome(buildId: string): Promise<BuildOutcome> {
    const record = await this.deps.builds.find(buildId);
    if (!record) return { state: 'failed', message: `build ${buildId} no longer exists` };
    if (!isFinished(record.status)) return { state: 'running' };
    if (record.status === 'succeeded') return { state: 'succeeded', image: this.runnable(record) };
    if (record.status === 'cancelled') return { state: 'cancelled' };
    return { state: 'failed', message: failureMessage(record) };
  }

  async cancel(buildId: string): Promise<void> {
    await this.deps.builds.cancel(buildId, 'the studio was stopped');
  }

  /** Berth's own registry over loopback (its current address), pinned to the digest when known. */
  private runnable(record: BuildRecord): string {
    const reference = this.deps.targets.pushReference(record.push);
    if (!record.digest) return reference;
    const tagAt = reference.lastIndexOf(':');
    const slash = reference.lastIndexOf('/');
    return `${tagAt > slash ? reference.slice(0, tagAt) : reference}@${record.digest}`;
  }
}

function failureMessage(record: BuildRecord): string {
  const report = record.errorReport;
  if (!report) return `build ${record.id} failed`;
  const tail = report.lastLines.length ? `\n${report.lastLines.join('\n')}` : '';
  return `build ${record.id} failed: ${report.message}${tail}`;
}
