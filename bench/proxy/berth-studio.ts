import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from '../support/cleanup.ts';
import { startBerthProcess, type BenchRegistry } from '../support/registries.ts';
import { prepareAgentBundle } from '../../src/studios/runners/agent-kit.ts';
import { startProcess } from '../support/servers.ts';
import { collectGarbage, inspectorFlag } from './node-gc.ts';
import { failureLines, type ProxyUnderTest, type Upstream } from './proxies.ts';
import { waitUntilServed } from './requests.ts';
import { upstreamPaths } from './upstream-content.ts';

/** Berth's whole path to a studio: server (proxy + tunnel end) and the session's agent in sidecar mode. */
export interface BerthStudio extends ProxyUnderTest {
  /** e.g. http://abc.localhost:8080/: its host goes in the Host header of requests sent to `address`. */
  studioUrl: string;
  adminToken: string;
}

interface CreatedSession {
  studioUrl: string;
  env: Record<string, string>;
}

/** The server logs failures as `error: …`, and the connect part's as `connect: cannot …` and the like. */
const isServerFailure = (line: string) => line.startsWith('error: ') || line.startsWith('connect: ');
/** The agent logs its tool's readiness and each connection; anything about a lost or refused tunnel is a failure here. */
const isAgentFailure = (line: string) => /dialing again|refused|could not|cannot|error/i.test(line);

const projectRoot = resolve(fileURLToPath(import.meta.url), '../../..');

/** The admin's API token, which startBerthProcess hands out only inside its Basic header. */
function adminTokenOf(berth: BenchRegistry): string {
  const basic = berth.adminAuthorization();
  if (!basic?.startsWith('Basic ')) throw new Error('Berth has no admin credentials');
  return Buffer.from(basic.slice('Basic '.length), 'base64').toString('utf8').split(':')[1]!;
}

/** startBerthProcess with `flags` added to the node flags it takes from BENCH_BERTH_NODE_FLAGS. */
async function withBerthNodeFlags<T>(flags: string[], start: () => Promise<T>): Promise<T> {
  const before = process.env.BENCH_BERTH_NODE_FLAGS;
  process.env.BENCH_BERTH_NODE_FLAGS = [before ?? '', ...flags].join(' ').trim();
  try {
    return await start();
  } finally {
    if (before === undefined) delete process.env.BENCH_BERTH_NODE_FLAGS;
    else process.env.BENCH_BERTH_NODE_FLAGS = before;
  }
}

async function createSession(berth: BenchRegistry, adminToken: string): Promise<CreatedSession> {
  const response = await fetch(`http://${berth.host}/api/connect/sessions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ workspace: 'admin' }),
  });
  const text = await response.text();
  if (response.status !== 200 && response.status !== 201) throw new Error(`POST /api/connect/sessions answered ${response.status}: ${text}`);
  return JSON.parse(text) as CreatedSession;
}

/**
 * Berth as an operator starts it (`berth up`), one session in workspace admin, and the session agent
 * (the runners' bundle, `--sidecar`) attached to the already running upstream, as a runtime would start it
 * next to a tool.
 * Requests carry the studio's Host and the admin's API token in `Berth-Session-Token`.
 */
export async function startBerthStudio(dir: string, upstream: Upstream, cleanup: Cleanup): Promise<BerthStudio> {
  const berth = await withBerthNodeFlags([inspectorFlag], () => startBerthProcess(join(dir, 'server')));
  cleanup.defer('stopping Berth', () => berth.server.stop());
  const adminToken = adminTokenOf(berth);
  const created = await createSession(berth, adminToken);
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('BERTH_')));
  Object.assign(env, created.env, { CONNECT_TOOL_PORT: String(upstream.port) });
  const nodeFlags = (process.env.BENCH_BERTH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  // The bundle the runners put into sessions, not bin/berth.js (which loads tsx to run the sources).
  const agentBundle = await prepareAgentBundle(join(dir, 'agent-kit'));
  const agent = startProcess(process.execPath, [...nodeFlags, inspectorFlag, agentBundle, '--sidecar'], {
    logFile: join(dir, 'agent.log'),
    cwd: projectRoot,
    env,
  });
  cleanup.defer('stopping the Berth agent', () => agent.stop());
  const studioHost = new URL(created.studioUrl).host;
  const studio: BerthStudio = {
    id: 'berth',
    label: 'Berth',
    address: berth.host,
    headers: { Host: studioHost, 'Berth-Session-Token': adminToken },
    servers: [berth.server, agent],
    roles: ['server', 'agent'],
    studioUrl: created.studioUrl,
    adminToken,
    loggedFailures: async () => [
      ...(await failureLines('Berth', berth.server.logFile, isServerFailure)),
      ...(await failureLines('Berth agent', agent.logFile, isAgentFailure)),
    ],
    collectGarbage: async () => void (await Promise.all([collectGarbage(berth.server.logFile), collectGarbage(agent.logFile)])),
  };
  await waitUntilServed(studio, upstreamPaths.small, [berth.server, agent]);
  return studio;
}
