import type { CheckedPlan } from '../studio-config/studio-source.ts';
import { contextFilesOf } from '../studio-config/studio-source.ts';
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
