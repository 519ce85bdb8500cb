import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { Dockerignore, DockerignoreError } from './dockerignore.ts';
import {
  inspectStudioConfig,
  MAX_STUDIO_CONFIG_BYTES,
  STUDIO_CONFIG_FILE,
  STUDIO_CONTEXT_DIRECTORY,
  type StudioConfig,
  type StudioConfigProblem,
} from './studio-config.ts';

/**
 * Plans the build of a Studio from a checked-out git repository: reads and validates
 * `.seqera/studio-config.yaml`, then, for a Dockerfile template, decides the build context — `.seqera/`, less
 * what `.dockerignore` excludes — and fingerprints it. Nothing is built here; the builder takes the plan.
 *
 * Safety: the context, the Dockerfile, the ignore file and the conda file must all resolve inside `.seqera/`
 * (a symlink out of it is refused), and every read is capped by the limits below.
 */

export interface BuildPlanLimits {
  /** All included context files together, in bytes (Seqera: 10 MB). */
  maxContextBytes: number;
  /** One context file, in bytes (Seqera: 5 MB). */
  maxFileBytes: number;
  /** The Dockerfile, in bytes (Wave: 10 kB). */
  maxDockerfileBytes: number;
  /** The conda environment file, in bytes (Wave: 50 kB). */
  maxCondaFileBytes: number;
  /** The `.dockerignore` file, in bytes. */
  maxIgnoreFileBytes: number;
  /** Entries (files and symlinks) in the context. */
  maxContextEntries: number;
}

export const DEFAULT_BUILD_PLAN_LIMITS: Readonly<BuildPlanLimits> = {
  maxContextBytes: 10 * 1024 * 1024,
  maxFileBytes: 5 * 1024 * 1024,
  maxDockerfileBytes: 10 * 1024,
  maxCondaFileBytes: 50 * 1024,
  maxIgnoreFileBytes: 64 * 1024,
  maxContextEntries: 10_000,
};

/** One entry of the build context. Directories are implied by paths; git keeps no empty ones. */
export interface ContextEntry {
  /** Relative to the context directory, `/`-separated. */
  path: string;
  type: 'file' | 'symlink';
  /** Bytes of content; 0 for a symlink. */
  size: number;
  /** 0o755 when any execute bit is set, else 0o644 (git keeps only that bit, so umasks must not matter). */
  mode: number;
  /** `sha256:<hex>` of the content, or of the link target for a symlink. */
  digest: string;
  /** The link target, for a symlink. */
  target?: string;
}

export interface CondaEnvironmentFile {
  /** Relative to `.seqera/`. */
  path: string;
  text: string;
}

interface PlanCommon {
  config: StudioConfig;
  /** Valid but ignored settings, for `berth studio-config check`. */
  warnings: StudioConfigProblem[];
}

export type BuildPlan =
  | (PlanCommon & {
      kind: 'dockerfile';
      /** Absolute, symlinks resolved: `<repository>/.seqera`. */
      contextDir: string;
      /** Relative to contextDir. */
      dockerfilePath: string;
      dockerfile: string;
      /** The ignore file that was honoured, relative to contextDir, or null. */
      ignoreFile: string | null;
      /** Included entries, sorted by path (byte order). */
      files: ContextEntry[];
      contextBytes: number;
      /** `sha256:<hex>`; equal trees give equal digests. See contextDigestOf. */
      contextDigest: string;
    })
  | (PlanCommon & { kind: 'registry'; image: string; condaEnvironment: CondaEnvironmentFile | null })
  | (PlanCommon & { kind: 'none'; condaEnvironment: CondaEnvironmentFile | null });

export type BuildPlanErrorCode =
  | 'repository-not-found'
  | 'config-not-found'
  | 'file-not-found'
  | 'not-a-file'
  | 'outside-context'
  | 'symlink-escape'
  | 'file-too-large'
  | 'context-too-large'
  | 'too-many-entries'
  | 'unsupported-file-type'
  | 'invalid-dockerignore'
  | 'empty-dockerfile';

export class BuildPlanError extends Error {
  readonly code: BuildPlanErrorCode;
  /** The offending path, relative to the repository (`.seqera/…`), or null. */
  readonly path: string | null;

  constructor(code: BuildPlanErrorCode, path: string | null, message: string) {
    super(message);
    this.name = 'BuildPlanError';
    this.code = code;
    this.path = path;
  }
}

/**
 * Plans the build for the repository checked out at `repositoryDir`. Throws StudioConfigError for an invalid
 * config and BuildPlanError (naming the file) for a missing, oversized or escaping file.
 */
export async function planStudioBuild(repositoryDir: string, options: { limits?: Partial<BuildPlanLimits> } = {}): Promise<BuildPlan> {
  const limits: BuildPlanLimits = { ...DEFAULT_BUILD_PLAN_LIMITS, ...options.limits };
  const repository = await resolveRepository(repositoryDir);
  const context = await resolveContextDirectory(repository);
  const configText = await readContextFile(context, STUDIO_CONFIG_FILE, MAX_STUDIO_CONFIG_BYTES, 'the studio config', 'config-not-found');
  const { config, warnings } = inspectStudioConfig(configText);
  const template = config.session.template;

  if (template.kind === 'dockerfile') {
    const dockerfile = await readContextFile(context, template.dockerfile, limits.maxDockerfileBytes, 'the Dockerfile');
    if (dockerfile.trim() === '') throw new BuildPlanError('empty-dockerfile', context.display(template.dockerfile), `${context.display(template.dockerfile)} is empty`);
    const { ignore, ignoreFile } = await readIgnoreRules(context, template.dockerfile, limits);
    const files = await listContext(context, ignore, limits);
    return {
      kind: 'dockerfile',
      config,
      warnings,
      contextDir: context.root,
      dockerfilePath: template.dockerfile,
      dockerfile,
      ignoreFile,
      files,
      contextBytes: files.reduce((total, entry) => total + entry.size, 0),
      contextDigest: contextDigestOf(files),
    };
  }
  const condaPath = config.session.dependencies.condaEnvironmentFile;
  const condaEnvironment = condaPath === null ? null : { path: condaPath, text: await readContextFile(context, condaPath, limits.maxCondaFileBytes, 'the conda environment file') };
  if (template.kind === 'registry') return { kind: 'registry', config, warnings, image: template.image, condaEnvironment };
  return { kind: 'none', config, warnings, condaEnvironment };
}

/**
 * The fingerprint of a context: SHA-256 over a versioned, canonical listing — for each entry in byte order of its
 * path: type, mode, size, content digest and path, NUL-separated. Timestamps, owners and the order in which the
 * file system lists a directory do not count, so the same tree always gives the same digest.
 */
export function contextDigestOf(entries: readonly ContextEntry[]): string {
  const hash = createHash('sha256');
  hash.update('berth-build-context-v1\0');
  for (const entry of sortedByPath(entries)) {
    hash.update(`${entry.type}\0${entry.mode.toString(8)}\0${entry.size}\0${entry.digest}\0${entry.path}\0`);
  }
  return `sha256:${hash.digest('hex')}`;
}

interface ContextDirectory {
  /** Absolute real path of `.seqera/`. */
  root: string;
  /** A context-relative path as the user knows it: `.seqera/<path>`. */
  display(path: string): string;
}

async function resolveRepository(repositoryDir: string): Promise<string> {
  try {
    const real = await realpath(repositoryDir);
    if ((await stat(real)).isDirectory()) return real;
  } catch {
    // reported below
  }
  throw new BuildPlanError('repository-not-found', null, `repository directory ${repositoryDir} does not exist`);
}

async function resolveContextDirectory(repository: string): Promise<ContextDirectory> {
  const display = (path: string): string => `${STUDIO_CONTEXT_DIRECTORY}/${path}`;
  let root: string;
  try {
    root = await realpath(join(repository, STUDIO_CONTEXT_DIRECTORY));
  } catch {
    throw new BuildPlanError('config-not-found', `${STUDIO_CONTEXT_DIRECTORY}/${STUDIO_CONFIG_FILE}`, `the repository has no ${STUDIO_CONTEXT_DIRECTORY}/${STUDIO_CONFIG_FILE}`);
  }
  if (!isInside(repository, root)) {
    throw new BuildPlanError('symlink-escape', STUDIO_CONTEXT_DIRECTORY, `${STUDIO_CONTEXT_DIRECTORY} is a symlink that leads outside the repository`);
  }
  if (!(await stat(root)).isDirectory()) {
    throw new BuildPlanError('config-not-found', STUDIO_CONTEXT_DIRECTORY, `${STUDIO_CONTEXT_DIRECTORY} is not a directory`);
  }
  return { root, display };
}

/**
 * Reads a file named in (or implied by) the config. It must resolve inside the context, be a regular file and
 * fit in `maxBytes`; the size is checked before reading so a huge file is never buffered.
 */
async function readContextFile(
  context: ContextDirectory,
  path: string,
  maxBytes: number,
  what: string,
  missingCode: BuildPlanErrorCode = 'file-not-found',
): Promise<string> {
  const shown = context.display(path);
  let real: string;
  try {
    real = await realpath(join(context.root, path));
  } catch {
    const hint =
      missingCode === 'file-not-found'
        ? ` (paths in ${STUDIO_CONFIG_FILE} are relative to ${STUDIO_CONTEXT_DIRECTORY}/)`
        : (await exists(join(context.root, 'studio-config.yml')))
          ? ` (found studio-config.yml; the file must be named ${STUDIO_CONFIG_FILE})`
          : '';
    throw new BuildPlanError(missingCode, shown, `${what} ${shown} does not exist${hint}`);
  }
  if (!isInside(context.root, real)) {
    throw new BuildPlanError('symlink-escape', shown, `${what} ${shown} is a symlink that leads outside ${STUDIO_CONTEXT_DIRECTORY}/`);
  }
  const info = await stat(real);
  if (!info.isFile()) throw new BuildPlanError('not-a-file', shown, `${what} ${shown} is not a regular file`);
  if (info.size > maxBytes) {
    throw new BuildPlanError('file-too-large', shown, `${what} ${shown} is ${formatBytes(info.size)}; at most ${formatBytes(maxBytes)} is allowed`);
  }
  const bytes = await readFile(real);
  if (bytes.length > maxBytes) {
    throw new BuildPlanError('file-too-large', shown, `${what} ${shown} grew past ${formatBytes(maxBytes)} while being read`);
  }
  return bytes.toString('utf8');
}

/**
 * Docker's choice of ignore file: `<Dockerfile>.dockerignore` beside the Dockerfile wins over `.dockerignore` at
 * the context root.
 */
async function readIgnoreRules(context: ContextDirectory, dockerfile: string, limits: BuildPlanLimits): Promise<{ ignore: Dockerignore; ignoreFile: string | null }> {
  for (const candidate of [`${dockerfile}.dockerignore`, '.dockerignore']) {
    if (!(await exists(join(context.root, candidate)))) continue;
    const text = await readContextFile(context, candidate, limits.maxIgnoreFileBytes, 'the ignore file');
    try {
      return { ignore: Dockerignore.parse(text), ignoreFile: candidate };
    } catch (error) {
      if (!(error instanceof DockerignoreError)) throw error;
      const shown = context.display(candidate);
      throw new BuildPlanError('invalid-dockerignore', shown, `${shown}: ${error.message}`);
    }
  }
  return { ignore: Dockerignore.empty(), ignoreFile: null };
}

/** Walks the context in a fixed order, applying the ignore rules, the limits and the symlink rule. */
async function listContext(context: ContextDirectory, ignore: Dockerignore, limits: BuildPlanLimits): Promise<ContextEntry[]> {
  const entries: ContextEntry[] = [];
  let totalBytes = 0;
  const visit = async (directory: string): Promise<void> => {
    const names = (await readdir(join(context.root, directory))).sort(compareBytes);
    for (const name of names) {
      const path = directory === '' ? name : `${directory}/${name}`;
      const absolute = join(context.root, path);
      const info = await lstat(absolute);
      if (info.isDirectory()) {
        if (!ignore.prunes(path)) await visit(path);
        continue;
      }
      if (ignore.excludes(path)) continue;
      if (entries.length >= limits.maxContextEntries) {
        throw new BuildPlanError('too-many-entries', context.display(path), `the build context ${STUDIO_CONTEXT_DIRECTORY}/ has more than ${limits.maxContextEntries} files`);
      }
      const entry = info.isSymbolicLink() ? await symlinkEntry(context, path, absolute) : await fileEntry(context, path, absolute, info, limits);
      totalBytes += entry.size;
      if (totalBytes > limits.maxContextBytes) {
        throw new BuildPlanError(
          'context-too-large',
          context.display(path),
          `the build context ${STUDIO_CONTEXT_DIRECTORY}/ exceeds ${formatBytes(limits.maxContextBytes)} when ${context.display(path)} is added; exclude files with .dockerignore`,
        );
      }
      entries.push(entry);
    }
  };
  await visit('');
  return sortedByPath(entries);
}

async function fileEntry(context: ContextDirectory, path: string, absolute: string, info: Stats, limits: BuildPlanLimits): Promise<ContextEntry> {
  const shown = context.display(path);
  if (!info.isFile()) throw new BuildPlanError('unsupported-file-type', shown, `${shown} is neither a file, a directory nor a symlink`);
  if (info.size > limits.maxFileBytes) {
    throw new BuildPlanError('file-too-large', shown, `${shown} is ${formatBytes(info.size)}; a build context file may be at most ${formatBytes(limits.maxFileBytes)}`);
  }
  const { digest, size } = await hashFile(absolute, limits.maxFileBytes, shown);
  return { path, type: 'file', size, mode: info.mode & 0o111 ? 0o755 : 0o644, digest };
}

/**
 * A symlink stays in the context as a link, so it may point only inside the context: its target, read as a path
 * from the link's directory, must not climb out, and if it resolves, its real path must be inside too (which
 * also catches a chain of links that leaves).
 */
async function symlinkEntry(context: ContextDirectory, path: string, absolute: string): Promise<ContextEntry> {
  const shown = context.display(path);
  const target = await readlink(absolute);
  const lexical = posix.normalize(posix.join(posix.dirname(path), target));
  const escapes = posix.isAbsolute(target) || lexical === '..' || lexical.startsWith('../');
  let resolved: string | null = null;
  try {
    resolved = await realpath(absolute);
  } catch {
    resolved = null; // dangling inside the context: harmless, kept as a link
  }
  if (escapes || (resolved !== null && !isInside(context.root, resolved))) {
    throw new BuildPlanError('symlink-escape', shown, `${shown} is a symlink to ${target}, which is outside the build context ${STUDIO_CONTEXT_DIRECTORY}/`);
  }
  return { path, type: 'symlink', size: 0, mode: 0o777, digest: `sha256:${createHash('sha256').update(target).digest('hex')}`, target };
}

/** Hashes while reading, and stops if the file grows past the cap after it was measured. */
async function hashFile(absolute: string, maxBytes: number, shown: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(absolute)) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new BuildPlanError('file-too-large', shown, `${shown} grew past ${formatBytes(maxBytes)} while being read`);
    hash.update(chunk as Buffer);
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

function sortedByPath(entries: readonly ContextEntry[]): ContextEntry[] {
  return [...entries].sort((a, b) => compareBytes(a.path, b.path));
}

/** Byte order of the UTF-8 encodings, so the order does not depend on the locale or on UTF-16 quirks. */
function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !rel.startsWith(sep));
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${bytes} bytes`;
}
