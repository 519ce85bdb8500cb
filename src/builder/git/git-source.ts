import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/**
 * Checks out one revision of a git repository into a fresh temporary directory with the real `git` binary.
 *
 * - Sources: `https://` (and `http://`), `file://` URLs and local paths. Other transports (ssh, `ext::`, …) are
 *   refused, and `GIT_ALLOW_PROTOCOL` makes git itself refuse them too.
 * - Revisions: a branch, a tag or a commit (full or abbreviated); none means the remote's default branch. Named
 *   revisions and full commit ids are fetched shallow (`--depth=1`); an abbreviated id needs the history, so it
 *   falls back to a full fetch of branches and tags.
 * - A token for private repositories is handed to git only through `GIT_ASKPASS`: a helper script in a private
 *   temporary directory that reads the token from its environment. The token is never in the URL, the argument
 *   list, the clone's `.git/config`, a file on disk, or any error message; stored credential helpers are switched
 *   off so git cannot save it either.
 */

export interface GitSourceOptions {
  /** `https://host/org/repo(.git)`, `file:///path`, or a local path. No credentials inside the URL. */
  url: string;
  /** Branch, tag or commit; null/absent for the remote's default branch. */
  revision?: string | null;
  /** Token for https (e.g. a GitHub personal access or app token). */
  token?: string | null;
  /** User name sent with the token; GitHub accepts `x-access-token` for every token kind. */
  username?: string;
  /** Where the temporary checkout (and, briefly, the askpass helper) is created; default: the OS temp directory. */
  parentDir?: string;
  /** Whole operation; default 5 minutes. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** The git executable (default `git` on PATH). */
  gitBinary?: string;
}

export interface GitCheckout {
  /** The working tree (with its `.git`). */
  dir: string;
  /** Full id of the checked-out commit. */
  commit: string;
  /** The repository as given, for logs (it holds no credentials). */
  repository: string;
  revision: string | null;
  /** Removes the checkout; safe to call more than once. */
  cleanup(): Promise<void>;
}

export type GitSourceErrorCode =
  | 'invalid-url'
  | 'invalid-revision'
  | 'not-found'
  | 'auth-failed'
  | 'revision-unknown'
  | 'unreachable'
  | 'timeout'
  | 'git-failed';

export class GitSourceError extends Error {
  readonly code: GitSourceErrorCode;
  readonly repository: string;
  readonly revision: string | null;

  constructor(code: GitSourceErrorCode, repository: string, revision: string | null, reason: string) {
    super(`cannot check out ${revision === null ? 'the default branch' : `revision "${revision}"`} of ${repository}: ${reason}`);
    this.name = 'GitSourceError';
    this.code = code;
    this.repository = repository;
    this.revision = revision;
  }
}

const DEFAULT_TIMEOUT_MS = 5 * 60_000;
const DEFAULT_TOKEN_USERNAME = 'x-access-token';
const MAX_CAPTURED_OUTPUT = 64 * 1024;
/** A revision that may be a commit id the server will not serve by name (abbreviated, or not advertised). */
const COMMIT_LIKE = /^[0-9a-f]{4,40}$/i;

/** Clones `options.url` at `options.revision`; throws GitSourceError with a reason that holds no secret. */
export async function cloneGitSource(options: GitSourceOptions): Promise<GitCheckout> {
  const revision = options.revision ?? null;
  const source = parseSource(options.url, revision, options.token ?? null);
  if (revision !== null) checkRevision(source.display, revision);

  const deadline = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  const parentDir = options.parentDir ?? tmpdir();
  const fail = (code: GitSourceErrorCode, reason: string): GitSourceError => new GitSourceError(code, source.display, revision, reason);
  const dir = await mkdtemp(join(parentDir, 'berth-git-'));
  let askpass: { dir: string; script: string } | null = null;
  try {
    askpass = options.token ? await writeAskpassHelper(parentDir) : null;
    const git = new GitRunner({
      binary: options.gitBinary ?? 'git',
      cwd: dir,
      env: gitEnvironment(askpass?.script ?? null, options.token ?? null, options.username ?? DEFAULT_TOKEN_USERNAME),
      signal,
      secret: options.token ?? null,
    });
    await git.run(['init', '--quiet']);
    await git.run(['remote', 'add', 'origin', source.fetchUrl]);
    const commit = await fetchRevision(git, revision, fail);
    await git.run(['checkout', '--quiet', '--detach', commit]);
    const cleanup = async (): Promise<void> => rm(dir, { recursive: true, force: true });
    return { dir, commit, repository: source.display, revision, cleanup };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    if (error instanceof GitSourceError) throw error;
    if (error instanceof GitCommandError) throw classify(error, signal, deadline, fail);
    throw error;
  } finally {
    if (askpass) await rm(askpass.dir, { recursive: true, force: true });
  }
}

/** Fetches the revision and returns the commit it names. */
async function fetchRevision(git: GitRunner, revision: string | null, fail: (code: GitSourceErrorCode, reason: string) => GitSourceError): Promise<string> {
  try {
    await git.run(['fetch', '--quiet', '--no-tags', '--depth=1', 'origin', revision ?? 'HEAD']);
    return (await git.run(['rev-parse', '--verify', '--quiet', 'FETCH_HEAD^{commit}'])).trim();
  } catch (error) {
    const unknownRef = error instanceof GitCommandError && isUnknownRevision(error.stderr);
    if (!(unknownRef && revision !== null && COMMIT_LIKE.test(revision))) throw error;
  }
  // An abbreviated commit id cannot be asked for, and some servers refuse unadvertised full ids: fetch the
  // history of every branch and tag and look the commit up locally.
  await git.run(['fetch', '--quiet', 'origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/tags/*:refs/tags/*']);
  const found = await git.run(['rev-parse', '--verify', '--quiet', `${revision}^{commit}`], { allowFailure: true });
  if (found.trim() === '') throw fail('revision-unknown', 'no branch, tag or commit of that name');
  return found.trim();
}

interface ParsedSource {
  /** What git is told to fetch from. */
  fetchUrl: string;
  /** What errors and logs show. */
  display: string;
}

function parseSource(url: string, revision: string | null, token: string | null): ParsedSource {
  const invalid = (reason: string): GitSourceError => new GitSourceError('invalid-url', redactUrl(url), revision, reason);
  const trimmed = url.trim();
  if (trimmed === '' || /[\0\n\r]/.test(trimmed)) throw invalid('the repository URL is empty or holds control characters');
  if (/^https?:\/\//i.test(trimmed)) {
    let parsed: URL;
    try {
      parsed = new URL(trimmed);
    } catch {
      throw invalid('not a valid URL');
    }
    if (parsed.password !== '') throw invalid('credentials must not be part of the URL; pass a token instead');
    if (token && parsed.protocol === 'http:' && !isLoopback(parsed.hostname)) {
      throw invalid('a token is only sent over https (or to this machine)');
    }
    return { fetchUrl: trimmed, display: trimmed };
  }
  if (/^file:\/\//i.test(trimmed)) return { fetchUrl: trimmed, display: trimmed };
  // Like git: a ':' before the first '/' makes `scheme:…` or scp-like `[user@]host:path` (ssh), and not a path.
  const colon = trimmed.indexOf(':');
  const slash = trimmed.indexOf('/');
  if (colon >= 0 && (slash < 0 || colon < slash)) {
    throw invalid('only https://, http://, file:// URLs and local paths are supported');
  }
  const absolute = isAbsolute(trimmed) ? trimmed : resolve(trimmed);
  return { fetchUrl: absolute, display: absolute };
}

/** Refuses what git could read as an option, a refspec (`a:b`, `+x`) or a revision expression. */
function checkRevision(repository: string, revision: string): void {
  const ok =
    revision.length <= 255 &&
    /^[A-Za-z0-9_][A-Za-z0-9._/@-]*$/.test(revision) &&
    !revision.includes('..') &&
    !revision.includes('@{') &&
    !revision.endsWith('/') &&
    !revision.endsWith('.lock');
  if (!ok) throw new GitSourceError('invalid-revision', repository, revision, 'not a valid branch, tag or commit name');
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^/@\s]*@/, '//***@');
}

/**
 * The askpass helper: git runs it with a prompt ("Username for …" / "Password for …") and reads the answer. It
 * holds no secret itself; it echoes what git's environment gives it.
 */
async function writeAskpassHelper(parentDir: string): Promise<{ dir: string; script: string }> {
  const dir = await mkdtemp(join(parentDir, 'berth-askpass-'));
  await chmod(dir, 0o700);
  const script = join(dir, 'askpass.sh');
  await writeFile(
    script,
    '#!/bin/sh\ncase "$1" in\n  [Uu]sername*) printf \'%s\\n\' "$BERTH_GIT_USERNAME" ;;\n  *) printf \'%s\\n\' "$BERTH_GIT_TOKEN" ;;\nesac\n',
    { mode: 0o700 },
  );
  return { dir, script };
}

/**
 * git's environment: the caller's, minus anything `GIT_*` that could point git elsewhere, plus settings that make it
 * non-interactive, English-speaking (errors are classified by their text), limited to our transports, and unable to
 * store credentials.
 */
function gitEnvironment(askpass: string | null, token: string | null, username: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('GIT_') || key === 'SSH_ASKPASS' || key.startsWith('BERTH_GIT_')) continue;
    env[key] = value;
  }
  const config: Array<[string, string]> = [
    ['credential.helper', ''], // an empty value clears helpers from system/global config: nothing stores the token
    ['core.askPass', ''],
    ['advice.detachedHead', 'false'],
    ['init.defaultBranch', 'main'],
    ['protocol.version', '2'],
  ];
  Object.assign(env, {
    LC_ALL: 'C',
    LANGUAGE: 'C',
    GIT_TERMINAL_PROMPT: '0',
    GCM_INTERACTIVE: 'never',
    GIT_ALLOW_PROTOCOL: 'http:https:file',
    GIT_CONFIG_COUNT: String(config.length),
  });
  config.forEach(([key, value], index) => {
    env[`GIT_CONFIG_KEY_${index}`] = key;
    env[`GIT_CONFIG_VALUE_${index}`] = value;
  });
  if (askpass && token) Object.assign(env, { GIT_ASKPASS: askpass, BERTH_GIT_TOKEN: token, BERTH_GIT_USERNAME: username });
  return env;
}

class GitCommandError extends Error {
  constructor(
    readonly stderr: string,
    readonly exitCode: number | null,
  ) {
    super(`git exited ${exitCode}`);
  }
}

class GitRunner {
  constructor(private readonly options: { binary: string; cwd: string; env: NodeJS.ProcessEnv; signal: AbortSignal; secret: string | null }) {}

  /** Runs git; resolves with stdout, rejects with GitCommandError (stderr already scrubbed of the secret). */
  run(args: string[], { allowFailure = false } = {}): Promise<string> {
    const { binary, cwd, env, signal, secret } = this.options;
    return new Promise((resolvePromise, reject) => {
      if (signal.aborted) return reject(new GitCommandError('aborted', null));
      const child = spawn(binary, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], signal, killSignal: 'SIGKILL' });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout = capped(stdout + chunk.toString('utf8'))));
      child.stderr.on('data', (chunk: Buffer) => (stderr = capped(stderr + chunk.toString('utf8'))));
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (error.name === 'AbortError') reject(new GitCommandError('aborted', null));
        else reject(new GitCommandError(`cannot run ${binary}: ${error.code ?? error.message}`, null));
      });
      child.on('close', (code) => {
        if (code === 0 || allowFailure) resolvePromise(stdout);
        else reject(new GitCommandError(scrub(stderr, secret), code));
      });
    });
  }
}

function capped(text: string): string {
  return text.length > MAX_CAPTURED_OUTPUT ? text.slice(-MAX_CAPTURED_OUTPUT) : text;
}

/** Removes the secret and any URL credentials from text that may end up in an error or a log. */
function scrub(text: string, secret: string | null): string {
  let clean = secret ? text.split(secret).join('***') : text;
  clean = clean.replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@');
  return clean;
}

function isUnknownRevision(stderr: string): boolean {
  return /couldn't find remote ref|not our ref|unadvertised object|no such remote ref|invalid refspec/i.test(stderr);
}

function classify(
  error: GitCommandError,
  signal: AbortSignal,
  deadline: AbortSignal,
  fail: (code: GitSourceErrorCode, reason: string) => GitSourceError,
): GitSourceError {
  const text = error.stderr;
  if (signal.aborted) return fail('timeout', deadline.aborted ? 'git took too long and was stopped' : 'cancelled');
  if (/Authentication failed|could not read (Username|Password)|terminal prompts disabled|HTTP Basic: Access denied|returned error: 40[13]/i.test(text)) {
    return fail('auth-failed', 'authentication failed (the repository is private or does not exist, or the token was refused)');
  }
  if (isUnknownRevision(text)) return fail('revision-unknown', 'no branch, tag or commit of that name');
  if (/Repository not found|does not appear to be a git repository|returned error: 404|not found/i.test(text)) {
    return fail('not-found', 'repository not found');
  }
  if (/Could not resolve host|Failed to connect|Connection refused|Connection timed out|Operation timed out|Network is unreachable/i.test(text)) {
    return fail('unreachable', 'the git server cannot be reached');
  }
  const lastLine = text.trim().split('\n').filter((line) => line.trim() !== '').pop() ?? `git exited ${error.exitCode}`;
  return fail('git-failed', lastLine.replace(/^(fatal|error): /, '').slice(0, 500));
}
