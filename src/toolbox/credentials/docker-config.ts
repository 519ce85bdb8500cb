import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { dockerHub, normaliseRegistryHost } from '../references.ts';
import type { RegistryLogin } from '../toolbox-operation.ts';
import { ToolboxError } from '../toolbox-operation.ts';

/**
 * Logins from docker's `config.json`, as `docker login` leaves them: `auths` entries (a base64
 * `auth` of `user:password`, or `username`/`password`, or an `identitytoken`), and credential
 * helpers (`credHelpers` per host, `credsStore` for every host) run as `docker-credential-<name> get`.
 * Hosts match under any of their names: `docker.io`, `index.docker.io`, `https://index.docker.io/v1/`.
 */

export interface DockerConfigSource {
  /** The directory holding config.json: default `$DOCKER_CONFIG`, else `~/.docker`. */
  configDir?: string;
  /** Environment for credential helpers (and where `DOCKER_CONFIG` and `PATH` are read); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The user name docker writes when the secret is an identity (refresh) token rather than a password. */
export const identityTokenUser = '<token>';
const helperTimeoutMs = 30_000;

/** The login docker would use for `host`, or undefined when config.json has none (or does not exist). */
export async function dockerConfigLogin(host: string, source: DockerConfigSource = {}): Promise<RegistryLogin | undefined> {
  const env = source.env ?? process.env;
  const configDir = source.configDir ?? env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  const config = await readConfig(join(configDir, 'config.json'));
  if (!config) return undefined;
  const wanted = normaliseRegistryHost(host);
  const helper = entryFor(config.credHelpers, wanted)?.[1] ?? config.credsStore;
  if (helper) {
    const fromHelper = await askHelper(helper, serverUrlFor(wanted, entryFor(config.credHelpers, wanted)?.[0]), env);
    if (fromHelper) return fromHelper;
  }
  const auth = entryFor(config.auths, wanted)?.[1];
  return auth ? loginFromAuthEntry(auth, host) : undefined;
}

async function readConfig(path: string): Promise<DockerConfigFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ToolboxError('FAILED', `cannot read docker's ${path}: ${(error as Error).message}`);
  }
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' ? (value as DockerConfigFile) : undefined;
  } catch {
    throw new ToolboxError('INVALID_INPUT', `docker's ${path} is not valid JSON; fix or remove it`);
  }
}

/** The entry whose key names `host` under any of its spellings (a URL, an alias of Docker Hub). */
function entryFor<T>(entries: Record<string, T> | undefined, host: string): [string, T] | undefined {
  if (!entries) return undefined;
  return Object.entries(entries).find(([key]) => normaliseRegistryHost(key) === host);
}

/** What docker hands a helper on stdin: the config's own key for the host, Docker Hub's legacy URL for the Hub. */
function serverUrlFor(host: string, configKey: string | undefined): string {
  if (configKey) return configKey;
  return host === dockerHub ? 'https://index.docker.io/v1/' : host;
}

function loginFromAuthEntry(entry: NonNullable<DockerConfigFile['auths']>[string], host: string): RegistryLogin | undefined {
  if (entry.identitytoken) return { username: identityTokenUser, password: entry.identitytoken };
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new ToolboxError('INVALID_INPUT', `the docker config.json login for ${host} is not base64 of user:password; run docker login ${host} again`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Runs `docker-credential-<helper> get`; undefined when the helper has nothing for the server. */
async function askHelper(helper: string, serverUrl: string, env: NodeJS.ProcessEnv): Promise<RegistryLogin | undefined> {
  const program = `docker-credential-${helper}`;
  const { code, stdout, stderr } = await runHelper(program, serverUrl, env);
  if (code !== 0) {
    if (/credentials not found/i.test(stdout + stderr)) return undefined;
    throw new ToolboxError('UNAUTHORIZED', `${program} get failed for ${serverUrl}: ${(stderr || stdout).trim().slice(0, 300)}`, { helper: program });
  }
  let answer: { Username?: unknown; Secret?: unknown };
  try {
    answer = JSON.parse(stdout) as typeof answer;
  } catch {
    throw new ToolboxError('FAILED', `${program} get answered something that is not JSON for ${serverUrl}`, { helper: program });
  }
  if (typeof answer.Secret !== 'string' || !answer.Secret) return undefined;
  return { username: typeof answer.Username === 'string' ? answer.Username : '', password: answer.Secret };
}

function runHelper(program: string, input: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: helperTimeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new ToolboxError('UNAUTHORIZED', `docker's config.json names the credential helper ${program}, which is not on PATH`, { helper: program })
          : error,
      ),
    );
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
