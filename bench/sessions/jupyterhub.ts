import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { run } from '../../test/support/processes.ts';
import { withDescendants } from '../proxy/websockets.ts';
import type { Cleanup } from '../support/cleanup.ts';
import { freePort, startProcess, waitForHttp } from '../support/servers.ts';
import { callJson, msSince, untilJupyterAnswers, type Launcher, type LaunchedSession, type PreparedSession } from './launchers.ts';

const projectRoot = resolve(fileURLToPath(import.meta.url), '../../..');
/** The proxy JupyterHub starts: configurable-http-proxy from npm, the one the proxy benchmark measures. */
const configurableHttpProxy = join(projectRoot, 'node_modules/.bin/configurable-http-proxy');
/** What each user's server runs; as root, Jupyter refuses to start without --allow-root. */
const singleUserCommand = ['jupyterhub-singleuser', ...(process.getuid?.() === 0 ? ['--allow-root'] : [])];

/** JupyterHub's user model, as far as the benchmark reads it. */
interface HubUser {
  server: string | null;
  pending: string | null;
}

/**
 * JupyterHub 3 as Debian packages it, configured as its documentation's simplest deployment would
 * be for a benchmark: SimpleLocalProcessSpawner (LocalProcessSpawner without system users: every
 * server runs as the hub's user, in its own home directory), which starts `jupyterhub-singleuser` (Jupyter
 * Notebook 6 with the hub's OAuth); the DummyAuthenticator, unused since every call carries an API
 * token: the benchmark's service holds the admin role, and each user gets a token of its own that
 * authenticates its requests to its server through the hub's proxy.
 */
export async function startJupyterHub(dir: string, pollMs: number, cleanup: Cleanup): Promise<Launcher> {
  await mkdir(join(dir, 'home'), { recursive: true });
  const [proxyPort, proxyApiPort, hubPort] = [await freePort(), await freePort(), await freePort()];
  const adminToken = randomBytes(24).toString('hex');
  const configFile = join(dir, 'jupyterhub_config.py');
  await writeFile(configFile, hubConfig({ dir, proxyPort, proxyApiPort, hubPort, adminToken }));
  const hub = startProcess('jupyterhub', ['-f', configFile], { logFile: join(dir, 'jupyterhub.log'), cwd: dir });
  // SIGTERM: the hub stops the servers it spawned and its proxy before it exits.
  cleanup.defer('stopping JupyterHub', () => hub.stop(30_000));
  const address = `127.0.0.1:${proxyPort}`;
  await waitForHttp(`http://${address}/hub/api`, 200, hub);

  const authorization = `token ${adminToken}`;
  const api = <T>(method: string, path: string, expected: number[], body?: unknown) =>
    callJson<T>(method, `http://${address}/hub/api${path}`, { authorization, body, expected });
  const hasServer = async (name: string) => {
    const { body } = await api<HubUser>('GET', `/users/${name}`, [200]);
    return body.server !== null || body.pending !== null;
  };

  async function stopServerAndUser(name: string): Promise<void> {
    const stopped = await api('DELETE', `/users/${name}/server`, [202, 204]);
    if (stopped.status === 202) {
      const deadline = Date.now() + 60_000;
      while (await hasServer(name)) {
        if (Date.now() > deadline) throw new Error(`JupyterHub did not stop ${name}'s server in 60 s`);
        await sleep(100);
      }
    }
    await api('DELETE', `/users/${name}`, [204]);
  }

  return {
    id: 'jupyterhub',
    label: 'JupyterHub',
    setup:
      `SimpleLocalProcessSpawner (LocalProcessSpawner without system users) starting \`${singleUserCommand.join(' ')}\` ` +
      '(Jupyter Notebook 6 + the hub’s OAuth), configurable-http-proxy from npm, DummyAuthenticator; timed from ' +
      'POST /hub/api/users/<u>/server (user and token made before, untimed) to the first 200 of GET /user/<u>/tree through ' +
      "the hub's proxy with the user's token",
    controlPlanePids: [hub.pid, proxyPid(hub.pid)],
    loggedFailures: async () => hubFailures(await readFile(hub.logFile, 'utf8').catch(() => '')),
    async prepare(name: string): Promise<PreparedSession> {
      await api('POST', `/users/${name}`, [201]);
      const { body: created } = await api<{ token: string }>('POST', `/users/${name}/tokens`, [200, 201], { note: 'bench' });
      return {
        async launch(): Promise<LaunchedSession> {
          const start = performance.now();
          const started = await api('POST', `/users/${name}/server`, [201, 202]);
          const requestMs = msSince(start);
          try {
            await untilJupyterAnswers({ address, headers: { Authorization: `token ${created.token}` } }, `/user/${name}/tree`, {
              pollMs,
              failure: async () => ((await hasServer(name)) ? undefined : `JupyterHub has no server for ${name} (see ${hub.logFile})`),
            });
          } catch (error) {
            await stopServerAndUser(name).catch(() => undefined);
            throw error;
          }
          // 201: the server answered the hub's check and its route is in the proxy; 202: still starting.
          const runningMs = started.status === 201 ? requestMs : null;
          return { readyMs: msSince(start), requestMs, runningMs, stop: () => stopServerAndUser(name) };
        },
      };
    },
    // A hub's users with no server running: what it keeps of each, as a control plane keeps studios.
    idleStudios: {
      create: async (name) => (await api('POST', `/users/${name}`, [201]), name),
      async remove(names) {
        for (const name of names) await api('DELETE', `/users/${name}`, [204]);
      },
    },
  };
}

/**
 * Error and critical lines of the hub's log (`[E …]`, `[C …]`), and each traceback as its last line
 * (the exception), which is what says what went wrong.
 */
function hubFailures(log: string): string[] {
  const lines = log.split('\n');
  const failures: string[] = [];
  lines.forEach((line, index) => {
    if (/^\[(E|C) /.test(line)) failures.push(`JupyterHub: ${line}`);
    if (line.startsWith('Traceback')) {
      const exception = lines.slice(index + 1).find((next) => next !== '' && !/^\s/.test(next));
      failures.push(`JupyterHub: traceback ending in ${exception ?? '(nothing)'}`);
    }
  });
  return failures;
}

/** The configurable-http-proxy the hub started (its child), whose work is part of every session start. */
function proxyPid(hubPid: number): number {
  const pid = withDescendants(hubPid).find((candidate) => commandLine(candidate).includes('configurable-http-proxy'));
  if (pid === undefined) throw new Error(`JupyterHub (pid ${hubPid}) runs no configurable-http-proxy`);
  return pid;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

function hubConfig(options: { dir: string; proxyPort: number; proxyApiPort: number; hubPort: number; adminToken: string }): string {
  const { dir, proxyPort, proxyApiPort, hubPort, adminToken } = options;
  const py = (value: unknown) => JSON.stringify(value); // JSON strings and lists are Python literals too
  return `c = get_config()
c.JupyterHub.bind_url = ${py(`http://127.0.0.1:${proxyPort}`)}
c.JupyterHub.hub_bind_url = ${py(`http://127.0.0.1:${hubPort}`)}
c.ConfigurableHTTPProxy.api_url = ${py(`http://127.0.0.1:${proxyApiPort}`)}
c.ConfigurableHTTPProxy.command = ${py([configurableHttpProxy])}
c.JupyterHub.db_url = ${py(`sqlite:///${join(dir, 'jupyterhub.sqlite')}`)}
c.JupyterHub.cookie_secret_file = ${py(join(dir, 'cookie_secret'))}
c.JupyterHub.pid_file = ${py(join(dir, 'jupyterhub.pid'))}
c.JupyterHub.authenticator_class = 'dummy'
c.JupyterHub.spawner_class = 'simple'
c.SimpleLocalProcessSpawner.home_dir_template = ${py(join(dir, 'home', '{username}'))}
c.Spawner.cmd = ${py(singleUserCommand.slice(0, 1))}
c.Spawner.args = ${py(singleUserCommand.slice(1))}
c.JupyterHub.services = [{'name': 'bench', 'api_token': ${py(adminToken)}}]
c.JupyterHub.load_roles = [{'name': 'admin', 'services': ['bench']}]
`;
}

/** JupyterHub's and its proxy's versions as installed, for the report's header. */
export async function jupyterHubVersions(): Promise<{ jupyterhub: string; chp: string; notebook: string }> {
  const hub = await run('jupyterhub', ['--version'], { allowFailure: true });
  const chp = await run(configurableHttpProxy, ['--version'], { allowFailure: true });
  const notebook = await run('jupyter', ['notebook', '--version'], { allowFailure: true });
  return { jupyterhub: hub.stdout.trim(), chp: chp.stdout.trim(), notebook: notebook.stdout.trim() };
}
