import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { builtInTemplates } from '../../src/studios/templates/built-in-templates.ts';
import type { Cleanup } from '../support/cleanup.ts';
import { freePort, startProcess, type ServerProcess } from '../support/servers.ts';
import { processAlive } from '../../test/support/processes.ts';
import { msSince, untilJupyterAnswers, type Launcher, type LaunchedSession, type PreparedSession } from './launchers.ts';

/**
 * The command Berth's Jupyter template gives the local runner (`jupyter notebook` on loopback, no token
 * of its own, any Host), filled in as the runner fills it: the port, prefix `/` (subdomain routing).
 * As root, Jupyter refuses to start without --allow-root, which the template does not pass.
 */
export function jupyterCommand(port: number): string[] {
  const template = builtInTemplates.find((t) => t.key === 'jupyter');
  if (!template) throw new Error('Berth has no built-in jupyter template');
  const command = template.hostCommand.map((part) => part.replaceAll('{port}', String(port)).replaceAll('{prefix}', '/'));
  return process.getuid?.() === 0 && !command.includes('--allow-root') ? [...command, '--allow-root'] : command;
}

/**
 * The limit: Jupyter started directly, timed from its spawn to its first 200 on its own port, each in
 * a directory of its own as its working directory, with this process's environment (as the local runner
 * starts it: the session's directory as cwd, Berth's HOME and PATH).
 */
export function toolAlone(workDir: string, pollMs: number, cleanup: Cleanup): Launcher {
  const running = new Set<ServerProcess>();
  cleanup.defer('stopping the Jupyters started alone', async () => void (await Promise.all([...running].map((server) => server.stop()))));
  const stop = async (server: ServerProcess) => {
    await server.stop();
    running.delete(server);
  };
  return {
    id: 'tool',
    label: 'Jupyter alone',
    setup: `\`${jupyterCommand(0).join(' ').replace('--port=0', '--port=<port>')}\` (the Jupyter template's host command) spawned directly, timed from the spawn to its first 200 on its own port: the limit`,
    controlPlanePids: [],
    loggedFailures: async () => [],
    async prepare(name: string): Promise<PreparedSession> {
      const dir = join(workDir, name);
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const [command, ...args] = jupyterCommand(port);
      return {
        async launch(): Promise<LaunchedSession> {
          const start = performance.now();
          const server = startProcess(command!, args, { logFile: join(dir, 'jupyter.log'), cwd: dir });
          const requestMs = msSince(start);
          running.add(server);
          try {
            await untilJupyterAnswers({ address: `127.0.0.1:${port}`, headers: {} }, '/tree', {
              pollMs,
              failure: async () => (processAlive(server.pid) ? undefined : `jupyter exited (see ${server.logFile})`),
            });
          } catch (error) {
            await stop(server);
            throw error;
          }
          return { readyMs: msSince(start), requestMs, runningMs: null, stop: () => stop(server) };
        },
      };
    },
  };
}
