import { setTimeout as sleep } from 'node:timers/promises';
import { collectGarbage, inspectorFlag } from '../proxy/node-gc.ts';
import { failureLines } from '../proxy/proxies.ts';
import type { Cleanup } from '../support/cleanup.ts';
import { startBerthProcess } from '../support/registries.ts';
import { callJson, msSince, untilJupyterAnswers, type Launcher, type LaunchedSession, type PreparedSession } from './launchers.ts';

/** The parts of a studio (STUDIOS.md's S) the benchmark reads. */
interface Studio {
  sessionId: string;
  studioUrl: string;
  statusInfo: { status: string; message: string | null; lastUpdate: string };
}

interface ComputeEnv {
  id: string;
  platform: string;
}

const workspace = 'admin';
/** Statuses from which a session does not come up without another start. */
const endStatuses = new Set(['stopped', 'errored', 'buildFailed']);

/** The server logs failures as `error: …`, and the connect part's as `connect: cannot …` and the like. */
const isServerFailure = (line: string) => line.startsWith('error: ') || line.startsWith('connect: ');

/**
 * Berth as an operator starts it (`berth up`, SQLite), with Studios enabled for every workspace; each
 * session is a new Jupyter studio in workspace admin on the local compute environment (the agent and
 * Jupyter as child processes of the server), created and started by one request.
 */
export async function startBerthStudios(dir: string, pollMs: number, cleanup: Cleanup): Promise<Launcher> {
  const berth = await startBerthProcess(dir, { config: { studios: { allowedWorkspaces: null } }, nodeFlags: [inspectorFlag] });
  // SIGTERM: Berth stops the sessions it runs before it exits.
  cleanup.defer('stopping Berth', () => berth.server.stop(30_000));
  const authorization = `Bearer ${berth.adminToken}`;
  const api = <T>(method: string, path: string, expected: number[], body?: unknown) =>
    callJson<T>(method, `http://${berth.host}/api${path}`, { authorization, body, expected });
  const computeEnvId = await localComputeEnvId(api);
  const describe = async (sessionId: string) => (await api<{ studio: Studio }>('GET', `/studios/${sessionId}`, [200])).body.studio;

  async function create(name: string, autoStart: boolean): Promise<Studio> {
    const body = { name, templateKey: 'jupyter', ...(computeEnvId ? { computeEnvId } : {}) };
    const { body: created } = await api<{ studio: Studio }>('POST', `/studios?workspaceId=${workspace}&autoStart=${autoStart}`, [200, 201], body);
    return created.studio;
  }

  async function stopAndDelete(sessionId: string): Promise<void> {
    const studio = await describe(sessionId);
    if (!endStatuses.has(studio.statusInfo.status)) {
      await api('PUT', `/studios/${sessionId}/stop`, [200, 202]);
      const deadline = Date.now() + 60_000;
      while (!endStatuses.has((await describe(sessionId)).statusInfo.status)) {
        if (Date.now() > deadline) throw new Error(`Berth did not stop studio ${sessionId} in 60 s`);
        await sleep(100);
      }
    }
    await api('DELETE', `/studios/${sessionId}`, [200, 204]);
  }

  async function launch(name: string): Promise<LaunchedSession> {
    const startedAt = Date.now(); // the server's clock is this machine's: its status times compare with it
    const start = performance.now();
    const studio = await create(name, true);
    const requestMs = msSince(start);
    const route = { address: berth.host, headers: { Host: new URL(studio.studioUrl).host, 'Berth-Session-Token': berth.adminToken } };
    try {
      await untilJupyterAnswers(route, '/tree', {
        pollMs,
        failure: async () => {
          const { statusInfo } = await describe(studio.sessionId);
          return endStatuses.has(statusInfo.status) ? `studio ${studio.sessionId} is ${statusInfo.status}: ${statusInfo.message ?? ''}` : undefined;
        },
      });
    } catch (error) {
      await stopAndDelete(studio.sessionId).catch(() => undefined);
      throw error;
    }
    const readyMs = msSince(start);
    const { statusInfo } = await describe(studio.sessionId);
    const runningMs = statusInfo.status === 'running' ? Date.parse(statusInfo.lastUpdate) - startedAt : null;
    return { readyMs, requestMs, runningMs, stop: () => stopAndDelete(studio.sessionId) };
  }

  return {
    id: 'berth',
    label: 'Berth',
    setup:
      '`berth up` (SQLite, Studios allowed for all workspaces), the Jupyter template on the local compute environment ' +
      '(`berth agent` + Jupyter as child processes of the server); timed from POST /api/studios?autoStart=true ' +
      '(create + start in one request) to the first 200 of GET /tree through the studio proxy (Host <session>.localhost, ' +
      'Berth-Session-Token: the admin API token)',
    controlPlanePids: [berth.server.pid],
    loggedFailures: () => failureLines('Berth', berth.server.logFile, isServerFailure),
    // Nothing to ready: the one request creates the studio and starts it.
    prepare: async (name: string): Promise<PreparedSession> => ({ launch: () => launch(name) }),
    idleStudios: {
      create: async (name) => (await create(name, false)).sessionId,
      async remove(sessionIds) {
        for (const sessionId of sessionIds) await api('DELETE', `/studios/${sessionId}`, [200, 204]);
      },
      // The server runs with the inspector for this (see startBerthStudios).
      collectGarbage: () => collectGarbage(berth.server.logFile),
    },
  };
}

/** The admin workspace's local compute environment, when the compute-env API lists one; otherwise Berth's default. */
async function localComputeEnvId(api: <T>(method: string, path: string, expected: number[]) => Promise<{ status: number; body: T }>): Promise<string | undefined> {
  const { status, body } = await api<{ computeEnvs?: ComputeEnv[] }>('GET', `/compute-envs?workspaceId=${workspace}`, [200, 404]);
  if (status !== 200) return undefined;
  return body.computeEnvs?.find((env) => env.platform === 'local')?.id;
}
