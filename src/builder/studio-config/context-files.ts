import { createHash } from 'node:crypto';
import { readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { ContextFile } from '../builds/container-request.ts';
import { DEFAULT_BUILD_PLAN_LIMITS, type BuildPlan, type BuildPlanLimits, type ContextEntry } from './build-plan.ts';
import { STUDIO_CONTEXT_DIRECTORY } from './studio-config.ts';

/** One thing wrong with a studio repository, naming the file (repository-relative) and, where known, its line. */
export interface StudioProblem {
  file: string | null;
  /** 1-based; null when the problem concerns the whole file or no file. */
  line: number | null;
  message: string;
}

/** Problems found while checking a studio source that are not the config's own (conda file, context files). */
export class StudioSourceError extends Error {
  readonly problems: StudioProblem[];

  constructor(problems: StudioProblem[]) {
    super(problems.map((p) => `${p.file ?? ''}${p.line === null ? '' : ` line ${p.line}`}: ${p.message}`).join('\n'));
    this.name = 'StudioSourceError';
    this.problems = problems;
  }
}

type DockerfilePlan = Extract<BuildPlan, { kind: 'dockerfile' }>;

/**
 * The files of a Dockerfile plan's build context, read for the build service (which writes regular files only).
 *
 * - Each file is read again and must still have the size and digest the plan recorded: the context cannot change
 *   between the check and the build without being noticed.
 * - A symlink is materialised: it becomes a copy of the file it points to, which must be a regular file inside
 *   `.seqera/` (the plan already refused links that leave it). A link to a directory, or a dangling one, is refused
 *   with a message naming it: copying a directory through a link could double the context behind the limits' back.
 *   Materialised copies count towards the limits like any file.
 *
 * Because materialised content is not part of the plan's `contextDigest` (which hashes a link's target path), the
 * build id should hash these files (`contextDigest(files)` of container-request.ts).
 */
export async function contextFilesOf(plan: DockerfilePlan, limits: Partial<BuildPlanLimits> = {}): Promise<ContextFile[]> {
  const { maxContextBytes, maxFileBytes } = { ...DEFAULT_BUILD_PLAN_LIMITS, ...limits };
  const files: ContextFile[] = [];
  let totalBytes = 0;
  for (const entry of plan.files) {
    const file = entry.type === 'file' ? await plannedFile(plan.contextDir, entry, maxFileBytes) : await materialisedLink(plan.contextDir, entry, maxFileBytes);
    totalBytes += file.content.length;
    if (totalBytes > maxContextBytes) {
      fail(entry, `makes the build context ${STUDIO_CONTEXT_DIRECTORY}/ larger than ${maxContextBytes} bytes (symlinks count as copies of their targets)`);
    }
    files.push(file);
  }
  return files;
}

async function plannedFile(contextDir: string, entry: ContextEntry, maxFileBytes: number): Promise<ContextFile> {
  const absolute = join(contextDir, entry.path);
  // The plan walked real directories only, so the real path of an unchanged file is its own path.
  if ((await realpathOrNull(absolute)) !== absolute) fail(entry, 'changed after the build was planned (it is gone or became a link)');
  const content = await readCapped(absolute, entry, maxFileBytes);
  if (content.length !== entry.size || sha256(content) !== entry.digest) fail(entry, 'changed after the build was planned');
  return { path: entry.path, content, mode: entry.mode };
}

async function materialisedLink(contextDir: string, entry: ContextEntry, maxFileBytes: number): Promise<ContextFile> {
  const absolute = join(contextDir, entry.path);
  const target = await realpathOrNull(absolute);
  const how = `a symlink to ${entry.target ?? '?'}, and the build service takes regular files only`;
  if (target === null) fail(entry, `is ${how}: the link leads nowhere`);
  if (!isInside(contextDir, target)) fail(entry, `is a symlink that leads outside the build context ${STUDIO_CONTEXT_DIRECTORY}/`);
  const info = await stat(target);
  if (!info.isFile()) fail(entry, `is ${how}: it points to a directory; link the files instead, or copy them`);
  const content = await readCapped(target, entry, maxFileBytes);
  return { path: entry.path, content, mode: info.mode & 0o111 ? 0o755 : 0o644 };
}

async function readCapped(absolute: string, entry: ContextEntry, maxFileBytes: number): Promise<Buffer> {
  if ((await stat(absolute)).size > maxFileBytes) fail(entry, `is larger than ${maxFileBytes} bytes, the limit for one build context file`);
  const content = await readFile(absolute);
  if (content.length > maxFileBytes) fail(entry, `grew past ${maxFileBytes} bytes while being read`);
  return content;
}

function fail(entry: ContextEntry, message: string): never {
  const file = `${STUDIO_CONTEXT_DIRECTORY}/${entry.path}`;
  throw new StudioSourceError([{ file, line: null, message: `${file} ${message}` }]);
}

async function realpathOrNull(path: string): Promise<string | null> {
  try {
    return await realpath(path);
  } catch {
    return null;
  }
}

function sha256(content: Buffer): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep);
}
