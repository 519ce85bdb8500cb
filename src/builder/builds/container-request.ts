import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { BuilderConfig } from '../../config/schema.ts';
import { condaDockerfile, CondaDockerfileError, condaEnvironmentFileName } from '../conda/conda-dockerfile.ts';
import { appendChannels, EnvironmentFileError, environmentFromEntries, parseEnvironmentFile, type CondaEnvironment } from '../conda/environment-file.ts';
import { parsePlatform } from '../executors/build-executor.ts';
import { contextDigestOf } from '../studio-config/build-plan.ts';

/**
 * A container request — Wave's `POST /v1alpha2/container` body, which Berth's own `POST /api/builds` takes
 * too — checked and normalised. Messages are Wave's own where Wave has one, so clients written for Wave
 * (Nextflow, Seqera Platform) show their users the words they know.
 */

export const nameStrategies = ['none', 'tagPrefix', 'imageSuffix'] as const;
export type NameStrategy = (typeof nameStrategies)[number];

/** A request that cannot be served as sent; the message is for the requester. */
export class ContainerRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContainerRequestError';
  }
}

/** A file of the build context, relative to its root. */
export interface ContextFile {
  path: string;
  content: Buffer;
  mode: number;
}

/** What to build: everything that determines the image. */
export interface BuildDefinition {
  dockerfile: string;
  /** The rendered conda environment file, for conda builds; also part of the context. */
  condaFile: string | null;
  /** The build context, from `buildContext` (a tar.gz) or the conda file. */
  context: { files: ContextFile[]; digest: string } | null;
  platform: string;
}

export type ContainerRequest = {
  freeze: boolean;
  nameStrategy: NameStrategy | undefined;
  buildRepository: string | undefined;
  cacheRepository: string | undefined;
  dryRun: boolean;
} & ({ kind: 'image'; containerImage: string; platform: string } | { kind: 'build'; build: BuildDefinition; buildContext: BuildContextInput | undefined });

/** Wave's BuildContext: a tar.gz, inline as a `data:` URL as Nextflow sends it. */
export interface BuildContextInput {
  location: string;
  gzipDigest?: string;
}

const base64Text = z.string();
const body = z
  .object({
    containerImage: z.string().min(1).optional(),
    containerFile: base64Text.optional(),
    condaFile: z.unknown().optional(),
    spackFile: z.unknown().optional(),
    buildContext: z.object({ location: z.string(), gzipDigest: z.string().optional() }).loose().optional(),
    packages: z
      .object({
        type: z.string(),
        environment: base64Text.optional(),
        entries: z.array(z.string()).optional(),
        channels: z.array(z.string()).optional(),
        condaOpts: z
          .object({ mambaImage: z.string().optional(), basePackages: z.string().optional(), baseImage: z.string().optional(), commands: z.array(z.string()).optional() })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
    containerPlatform: z.string().optional(),
    buildRepository: z.string().optional(),
    cacheRepository: z.string().optional(),
    freeze: z.boolean().optional(),
    nameStrategy: z.string().optional(),
    format: z.string().optional(),
    mirror: z.boolean().optional(),
    dryRun: z.boolean().optional(),
  })
  .loose();

export type ContainerRequestBody = z.infer<typeof body>;
export type RequestLimits = Pick<BuilderConfig, 'maxDockerfileBytes' | 'maxCondaFileBytes' | 'defaultPlatform'>;

/** Checks a request body; the build context (if any) is decoded later, by `readBuildContext`. */
export function parseContainerRequest(value: unknown, limits: RequestLimits): ContainerRequest {
  const parsed = body.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ContainerRequestError(`Invalid request attribute \`${issue.path.join('.') || 'body'}\`: ${issue.message}`);
  }
  const req = parsed.data;
  if (req.containerFile && req.packages) throw new ContainerRequestError('Attribute `containerFile` and `packages` conflicts each other');
  if (req.condaFile !== undefined) throw new ContainerRequestError('Attribute `condaFile` is deprecated - use `packages` instead');
  if (req.spackFile !== undefined) throw new ContainerRequestError('Attribute `spackFile` is deprecated - use `packages` instead');
  if (req.format && req.format !== 'docker') throw new ContainerRequestError(`Unsupported container format '${req.format}' - Berth builds Docker/OCI images only`);
  if (req.mirror) throw new ContainerRequestError('Container mirroring is not supported by this service - use `berth clone`');
  if (req.freeze && !req.buildRepository) throw new ContainerRequestError('Attribute `buildRepository` must be specified when using freeze mode');
  if (req.nameStrategy !== undefined && !(nameStrategies as readonly string[]).includes(req.nameStrategy)) {
    throw new ContainerRequestError(`Unsupported image naming strategy: '${req.nameStrategy}'`);
  }
  const platform = req.containerPlatform || limits.defaultPlatform;
  if (!parsePlatform(platform)) throw new ContainerRequestError(`Unsupported container platform '${platform}'`);

  const common = {
    freeze: req.freeze ?? false,
    nameStrategy: req.nameStrategy as NameStrategy | undefined,
    buildRepository: req.buildRepository || undefined,
    cacheRepository: req.cacheRepository || undefined,
    dryRun: req.dryRun ?? false,
  };
  const generated = req.packages ? condaBuild(req.packages, platform, limits) : undefined;
  const containerFile = generated?.dockerfile ?? (req.containerFile === undefined ? undefined : decodeDockerfile(req.containerFile, limits));
  if (!req.containerImage && !containerFile) throw new ContainerRequestError("Specify either 'containerImage' or 'containerFile' attribute");
  if (req.containerImage && containerFile) throw new ContainerRequestError("Attributes 'containerImage' and 'containerFile' cannot be used in the same request");

  if (req.containerImage) {
    // Without freeze an existing image is served as it is; with freeze it is copied into the build repository.
    if (!common.freeze) return { ...common, kind: 'image', containerImage: req.containerImage, platform };
    return { ...common, kind: 'build', build: { dockerfile: `FROM ${req.containerImage}\n`, condaFile: null, context: null, platform }, buildContext: undefined };
  }
  if (generated && req.buildContext) throw new ContainerRequestError('Attribute `buildContext` cannot be used with `packages`');
  const build: BuildDefinition = generated ?? { dockerfile: containerFile!, condaFile: null, context: null, platform };
  return { ...common, kind: 'build', build, buildContext: req.buildContext };
}

function decodeDockerfile(encoded: string, limits: RequestLimits): string {
  const text = decodeBase64(encoded, 'containerFile');
  if (Buffer.byteLength(text) > limits.maxDockerfileBytes) {
    throw new ContainerRequestError(`Container file exceeds the maximum allowed size of ${limits.maxDockerfileBytes} bytes`);
  }
  // A Dockerfile that reads the builder's own registry login would leak it into the image.
  if (text.includes('/.docker/config.json')) throw new ContainerRequestError('Provided container file is not allowed (error code: 100)');
  if (text.includes('/kaniko')) throw new ContainerRequestError('Provided container file is not allowed (error code: 101)');
  return text;
}

function condaBuild(packages: NonNullable<ContainerRequestBody['packages']>, platform: string, limits: RequestLimits): BuildDefinition {
  if (packages.type !== 'CONDA') throw new ContainerRequestError(`Unsupported packages type '${packages.type}' - only CONDA is supported`);
  const environment = readEnvironment(packages, limits);
  const options = packages.condaOpts ?? {};
  try {
    const generated = condaDockerfile(environment, {
      mambaImage: options.mambaImage,
      baseImage: options.baseImage,
      basePackages: options.basePackages === undefined ? undefined : options.basePackages.split(/\s+/).filter(Boolean),
      platform,
    });
    const content = Buffer.from(generated.environmentFile);
    const files = [{ path: condaEnvironmentFileName, content, mode: 0o644 }];
    return { dockerfile: generated.dockerfile, condaFile: generated.environmentFile, context: { files, digest: contextDigest(files) }, platform };
  } catch (error) {
    if (error instanceof CondaDockerfileError) throw new ContainerRequestError(`Invalid \`packages.condaOpts\`: ${error.message}`);
    throw error;
  }
}

function readEnvironment(packages: NonNullable<ContainerRequestBody['packages']>, limits: RequestLimits): CondaEnvironment {
  const options = { maxBytes: limits.maxCondaFileBytes };
  try {
    if (packages.environment !== undefined) {
      if (packages.entries?.length) throw new ContainerRequestError('Attribute `packages.environment` and `packages.entries` conflicts each other');
      const parsed = parseEnvironmentFile(decodeBase64(packages.environment, 'packages.environment'), options);
      return appendChannels(parsed, packages.channels ?? []);
    }
    if (!packages.entries?.length) throw new ContainerRequestError('Attribute `packages` must specify either `environment` or `entries`');
    return environmentFromEntries(packages.entries, packages.channels ?? [], options);
  } catch (error) {
    if (error instanceof EnvironmentFileError) throw new ContainerRequestError(`Invalid conda environment file:\n${error.message}`);
    throw error;
  }
}

function decodeBase64(encoded: string, field: string): string {
  const compact = encoded.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new ContainerRequestError(`Invalid '${field}' attribute - make sure it encoded as a base64 string`);
  }
  return Buffer.from(compact, 'base64').toString('utf8');
}

/** The fingerprint of context files, in the one format build plans use (see contextDigestOf). */
export function contextDigest(files: readonly ContextFile[]): string {
  return contextDigestOf(
    files.map((file) => ({ path: file.path, type: 'file', size: file.content.length, mode: file.mode, digest: `sha256:${createHash('sha256').update(file.content).digest('hex')}` })),
  );
}
