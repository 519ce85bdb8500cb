import type { BuilderConfig } from '../../config/schema.ts';
import { EnvironmentFileError, parseEnvironmentFile, type CondaEnvironment } from '../conda/environment-file.ts';
import { cloneGitSource, GitSourceError } from '../git/git-source.ts';
import { BuildPlanError, DEFAULT_BUILD_PLAN_LIMITS, planStudioBuild, type BuildPlan, type BuildPlanLimits } from './build-plan.ts';
import { StudioSourceError, type StudioProblem } from './context-files.ts';
import { inspectStudioConfig, STUDIO_CONFIG_PATH, STUDIO_CONTEXT_DIRECTORY, StudioConfigError, type StudioConfig, type StudioConfigProblem, type StudioTemplateKind } from './studio-config.ts';

export { contextFilesOf, StudioSourceError, type StudioProblem } from './context-files.ts';

/**
 * A studio repository from wherever it lives — a git URL (https, file://, or a local repository path, cloned at a
 * revision) or a directory used as it is — checked and planned: `.seqera/studio-config.yaml`, the files it names,
 * the build context and the conda environment file. `berth studio-config check` and `POST /api/studio-config/check`
 * both answer with `inspectStudioSource`'s result; the builder takes the plan itself through `withStudioPlan`.
 */

export interface StudioSourceOptions {
  /** A git repository to clone: `https://…`, `file://…` or a local repository path. Exclusive with `dir`. */
  url?: string;
  /** A directory used as it is (uncommitted changes included). Exclusive with `url`. */
  dir?: string;
  /** Branch, tag or commit of `url`; default: its default branch. */
  revision?: string | null;
  /** GitHub (or other https) token for a private repository; handed to git only, never logged. */
  token?: string | null;
  /** User name sent with the token (default `x-access-token`, which GitHub accepts for every token kind). */
  username?: string;
  limits?: Partial<BuildPlanLimits>;
  /** Where the temporary checkout is made (default: the OS temporary directory). */
  parentDir?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Where the checked files came from. */
export interface StudioSourceInfo {
  repository: string;
  revision: string | null;
  /** The checked-out commit; null for a directory used as it is. */
  commit: string | null;
}

export type StudioSessionSettings = Omit<StudioConfig['session'], 'template'>;

export interface StudioPlanSummary {
  kind: StudioTemplateKind;
  /** The image to run, for `registry`. */
  image: string | null;
  /** Repository-relative (`.seqera/Dockerfile`), for `dockerfile`. */
  dockerfile: string | null;
  /** The build context `.seqera/`, for `dockerfile`; null when only the text of the config was checked. */
  context: { files: number; bytes: number; digest: string; ignoreFile: string | null } | null;
  /** Repository-relative; null for `dockerfile` templates (which ignore it) or when none is named. */
  condaEnvironmentFile: string | null;
  /** The parsed environment, when the file was read. */
  condaEnvironment: Pick<CondaEnvironment, 'channels' | 'dependencies' | 'pip'> | null;
  session: StudioSessionSettings;
}

export type StudioCheckResult =
  | { ok: true; source: StudioSourceInfo | null; checks: string[]; plan: StudioPlanSummary; warnings: StudioProblem[] }
  | { ok: false; source: StudioSourceInfo | null; checks: string[]; problems: StudioProblem[]; warnings: StudioProblem[] };

/** A plan whose conda environment file (when it has one) has been validated too. */
export type CheckedPlan = BuildPlan & { condaParsed: CondaEnvironment | null };

/** The builder's limits, as the plan names them. */
export function buildPlanLimitsOf(config: Pick<BuilderConfig, 'maxContextBytes' | 'maxContextFileBytes' | 'maxDockerfileBytes' | 'maxCondaFileBytes'>): Partial<BuildPlanLimits> {
  return {
    maxContextBytes: config.maxContextBytes,
    maxFileBytes: config.maxContextFileBytes,
    maxDockerfileBytes: config.maxDockerfileBytes,
    maxCondaFileBytes: config.maxCondaFileBytes,
  };
}

/**
 * Checks out the source, plans it and validates its conda file, then runs `use` while the checkout still exists
 * (so `contextFilesOf(plan)` can read the files); the checkout is removed afterwards, whatever happens. Throws
 * GitSourceError, StudioConfigError, BuildPlanError or StudioSourceError — `problemsOf` turns them into problems.
 */
export async function withStudioPlan<T>(options: StudioSourceOptions, use: (plan: CheckedPlan, source: StudioSourceInfo) => Promise<T>): Promise<T> {
  return withCheckout(options, async (dir, source) => use(await checkedPlan(dir, options.limits), source));
}

/** Checks and plans the source; never throws for a problem of the repository, only for programming errors. */
export async function inspectStudioSource(options: StudioSourceOptions): Promise<StudioCheckResult> {
  let source: StudioSourceInfo | null = null;
  const checks: string[] = [];
  try {
    return await withCheckout(options, async (dir, checkedOut) => {
      source = checkedOut;
      checks.push(checkedOut.commit === null ? `using the directory ${dir} as it is` : `cloned ${checkedOut.repository} at ${checkedOut.commit}${checkedOut.revision === null ? '' : ` (${checkedOut.revision})`}`);
      try {
        const plan = await checkedPlan(dir, options.limits);
        return { ok: true, source, checks: [...checks, ...planChecks(plan)], plan: summaryOf(plan), warnings: configWarnings(plan.warnings) };
      } catch (error) {
        if (failedPastTheConfig(error)) checks.push(`${STUDIO_CONFIG_PATH} is valid`);
        throw error;
      }
    });
  } catch (error) {
    const problems = problemsOf(error);
    if (problems === null) throw error;
    return { ok: false, source, checks, problems, warnings: [] };
  }
}

/** Whether planning failed after the config was read and found valid (on a file it names, or the context). */
function failedPastTheConfig(error: unknown): boolean {
  if (error instanceof BuildPlanError) return error.code !== 'repository-not-found' && error.code !== 'config-not-found';
  return error instanceof StudioSourceError;
}

/** Checks the text of a `studio-config.yaml` alone: no files are read, so the files it names are not checked. */
export function checkStudioConfigText(text: string): StudioCheckResult {
  try {
    const { config, warnings } = inspectStudioConfig(text);
    const plan = summaryOfConfig(config);
    return { ok: true, source: null, checks: [`${STUDIO_CONFIG_PATH} is valid (session.template.kind: ${plan.kind})`], plan, warnings: configWarnings(warnings) };
  } catch (error) {
    const problems = problemsOf(error);
    if (problems === null) throw error;
    return { ok: false, source: null, checks: [], problems, warnings: [] };
  }
}

/** The problems an error of checking a studio source stands for, each naming its file (and line); null for others. */
export function problemsOf(error: unknown): StudioProblem[] | null {
  if (error instanceof StudioConfigError) return error.problems.map((p) => ({ file: STUDIO_CONFIG_PATH, line: p.line, message: p.message }));
  if (error instanceof StudioSourceError) return error.problems;
  if (error instanceof BuildPlanError) {
    // An invalid ignore file's message is `<file>: line N: <why>` (from DockerignoreError); keep the line apart.
    const ignoreLine = error.code === 'invalid-dockerignore' ? /^[^\n]*?: line (\d+): (.*)$/s.exec(error.message) : null;
    if (ignoreLine) return [{ file: error.path, line: Number(ignoreLine[1]), message: ignoreLine[2]! }];
    return [{ file: error.path, line: null, message: error.message }];
  }
  if (error instanceof GitSourceError) return [{ file: null, line: null, message: `${error.message}${gitHint(error)}` }];
  return null;
}

function gitHint(error: GitSourceError): string {
  const token = 'a GitHub token that can read it (the CLI: --token-env VAR; the API: "credential", a workspace credential holding the token)';
  if (error.code === 'auth-failed') return `. If the repository is private, give ${token}; a token that was given was refused`;
  if (error.code === 'not-found' && /^https?:/i.test(error.repository)) return `. A private repository looks missing to a token that cannot read it; give ${token}`;
  return '';
}

async function withCheckout<T>(options: StudioSourceOptions, use: (dir: string, source: StudioSourceInfo) => Promise<T>): Promise<T> {
  if ((options.url === undefined) === (options.dir === undefined)) throw new TypeError('give a studio source either as url or as dir');
  if (options.dir !== undefined) {
    if (options.revision) throw new TypeError('a directory is used as it is: give its revision with url instead');
    return use(options.dir, { repository: options.dir, revision: null, commit: null });
  }
  const { url, revision, token, username, parentDir, timeoutMs, signal } = options;
  const checkout = await cloneGitSource({ url: url!, revision, token, username, parentDir, timeoutMs, signal });
  try {
    return await use(checkout.dir, { repository: checkout.repository, revision: checkout.revision, commit: checkout.commit });
  } finally {
    await checkout.cleanup();
  }
}

async function checkedPlan(dir: string, limits: Partial<BuildPlanLimits> | undefined): Promise<CheckedPlan> {
  const plan = await planStudioBuild(dir, { limits });
  if (plan.kind === 'dockerfile' || plan.condaEnvironment === null) return { ...plan, condaParsed: null };
  const { path, text } = plan.condaEnvironment;
  try {
    const maxBytes = limits?.maxCondaFileBytes ?? DEFAULT_BUILD_PLAN_LIMITS.maxCondaFileBytes;
    return { ...plan, condaParsed: parseEnvironmentFile(text, { maxBytes }) };
  } catch (error) {
    if (!(error instanceof EnvironmentFileError)) throw error;
    const file = `${STUDIO_CONTEXT_DIRECTORY}/${path}`;
    throw new StudioSourceError(error.problems.map((p) => ({ file, line: p.line, message: p.message })));
  }
}

function configWarnings(warnings: StudioConfigProblem[]): StudioProblem[] {
  return warnings.map((w) => ({ file: STUDIO_CONFIG_PATH, line: w.line, message: w.message }));
}

function planChecks(plan: CheckedPlan): string[] {
  const checks = [`${STUDIO_CONFIG_PATH} is valid (session.template.kind: ${plan.kind})`];
  if (plan.kind === 'dockerfile') {
    const ignored = plan.ignoreFile === null ? 'no ignore file' : `${STUDIO_CONTEXT_DIRECTORY}/${plan.ignoreFile} honoured`;
    checks.push(`${STUDIO_CONTEXT_DIRECTORY}/${plan.dockerfilePath} read (${Buffer.byteLength(plan.dockerfile)} bytes)`);
    checks.push(`build context ${STUDIO_CONTEXT_DIRECTORY}/: ${counted(plan.files.length, 'file')}, ${plan.contextBytes} bytes, within the limits (${ignored})`);
  }
  if (plan.kind === 'registry') checks.push(`image ${plan.image} is a valid image reference`);
  if (plan.condaParsed && plan.kind !== 'dockerfile' && plan.condaEnvironment) {
    const { dependencies, channels, pip } = plan.condaParsed;
    checks.push(
      `${STUDIO_CONTEXT_DIRECTORY}/${plan.condaEnvironment.path} is a valid conda environment (${counted(dependencies.length, 'package')}${pip.length ? `, ${counted(pip.length, 'pip requirement')}` : ''}, ${counted(channels.length, 'channel')})`,
    );
  }
  return checks;
}

function counted(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

function summaryOf(plan: CheckedPlan): StudioPlanSummary {
  const summary = summaryOfConfig(plan.config);
  if (plan.kind === 'dockerfile') {
    summary.context = { files: plan.files.length, bytes: plan.contextBytes, digest: plan.contextDigest, ignoreFile: plan.ignoreFile === null ? null : `${STUDIO_CONTEXT_DIRECTORY}/${plan.ignoreFile}` };
  }
  if (plan.condaParsed) summary.condaEnvironment = { channels: plan.condaParsed.channels, dependencies: plan.condaParsed.dependencies, pip: plan.condaParsed.pip };
  return summary;
}

function summaryOfConfig(config: StudioConfig): StudioPlanSummary {
  const { template, ...session } = config.session;
  const conda = template.kind === 'dockerfile' ? null : session.dependencies.condaEnvironmentFile;
  return {
    kind: template.kind,
    image: template.kind === 'registry' ? template.image : null,
    dockerfile: template.kind === 'dockerfile' ? `${STUDIO_CONTEXT_DIRECTORY}/${template.dockerfile}` : null,
    context: null,
    condaEnvironmentFile: conda === null ? null : `${STUDIO_CONTEXT_DIRECTORY}/${conda}`,
    condaEnvironment: null,
    session,
  };
}
