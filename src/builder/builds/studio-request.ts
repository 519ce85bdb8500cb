import { mkdir } from 'node:fs/promises';
import type { CheckedPlan } from '../studio-config/studio-source.ts';
import { contextFilesOf, problemsOf, withStudioPlan } from '../studio-config/studio-source.ts';
import type { BuildPlanLimits } from '../studio-config/build-plan.ts';
import { contextDigest, ContainerRequestError, parseContainerRequest, type ContainerRequest, type RequestLimits } from './container-request.ts';

/** The request attributes a studio repository leaves to the requester. */
export interface StudioBuildOptions {
  containerPlatform?: string;
  buildRepository?: string;
  freeze?: boolean;
  nameStrategy?: string;
}

const base64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * The container request a studio repository describes: its Dockerfile with `.seqera/` as the context; or its
 * registry image, with the conda environment built on top when it names one. It goes through the same checks
 * as a request sent to the API (Dockerfile bans, size limits, conda validation).
 */
export async function studioContainerRequest(plan: CheckedPlan, options: StudioBuildOptions, limits: RequestLimits & Partial<BuildPlanLimits>): Promise<ContainerRequest> {
  if (plan.kind === 'dockerfile') {
    const request = parseContainerRequest({ ...options, containerFile: base64(plan.dockerfile) }, limits);
    if (request.kind !== 'build') throw new Error('a Dockerfile request is always a build');
    const files = await contextFilesOf(plan, limits);
    return { ...request, build: { ...request.build, context: { files, digest: contextDigest(files) } } };
  }
  const baseImage = plan.kind === 'registry' ? plan.image : undefined;
  if (plan.condaEnvironment) {
    const condaOpts = baseImage ? { baseImage } : undefined;
    return parseContainerRequest({ ...options, packages: { type: 'CONDA', environment: base64(plan.condaEnvironment.text), condaOpts } }, limits);
  }
  if (baseImage) return parseContainerRequest({ ...options, containerImage: baseImage }, limits);
  throw new ContainerRequestError('The studio repository has no template of its own (session.template.kind: none) and no conda environment: there is nothing to build');
}

/** A studio repository that cannot be built; the message lists each problem with its file and line. */
export class StudioRepositoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StudioRepositoryError';
  }
}

/**
 * Clones a studio repository (with an optional host-bound login) into `workDir` and turns it into the container
 * request it describes. Problems of the repository become one StudioRepositoryError listing them all.
 */
export async function repositoryContainerRequest(input: {
  url: string;
  revision: string | undefined;
  login: { token: string | null; username: string | undefined };
  options: StudioBuildOptions;
  limits: RequestLimits & Partial<BuildPlanLimits>;
  workDir: string;
}): Promise<ContainerRequest> {
  const source = { url: input.url, revision: input.revision, ...input.login, limits: input.limits, parentDir: input.workDir };
  await mkdir(input.workDir, { recursive: true, mode: 0o700 });
  try {
    return await withStudioPlan(source, (plan) => studioContainerRequest(plan, input.options, input.limits));
  } catch (error) {
    const problems = problemsOf(error);
    if (!problems) throw error;
    const listed = problems.map((problem) => `${problem.file ?? input.url}${problem.line ? ` line ${problem.line}` : ''}: ${problem.message}`).join('\n');
    throw new StudioRepositoryError(`the studio repository cannot be built:\n${listed}`);
  }
}
