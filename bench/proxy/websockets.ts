import { readdirSync, readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { residentBytes } from '../support/measure.ts';
import type { Route } from './requests.ts';
import { upstreamPaths } from './upstream-content.ts';

/** A WebSocket to the upstream's echo endpoint through `route`, once the upgrade has been answered. */
export function openEcho(route: Route, timeoutMs = 30_000): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${route.address}${upstreamPaths.echo}`, { headers: route.headers, perMessageDeflate: false, handshakeTimeout: timeoutMs });
    socket.once('open', () => {
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // a later error shows as a failed echo or a closed socket
      resolve(socket);
    });
    socket.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => {
        socket.terminate();
        reject(new Error(`the WebSocket upgrade via ${route.address} was answered ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8', 0, 500)}`));
      });
    });
    socket.once('error', reject);
  });
}

/** Sends `payload` and waits for the same bytes to come back. */
export function echoOnce(socket: WebSocket, payload: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (data: WebSocket.RawData) => {
      socket.off('close', onClose);
      const received = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (received.equals(payload)) resolve();
      else reject(new Error(`the echo returned ${received.length} other bytes`));
    };
    const onClose = (code: number) => {
      socket.off('message', onMessage);
      reject(new Error(`the WebSocket closed (${code}) before its echo came back`));
    };
    socket.once('message', onMessage);
    socket.once('close', onClose);
    socket.send(payload, { binary: true });
  });
}

/** Round-trip times in ms of `rounds` sequential echoes of a small message on one socket, after a warm-up. */
export async function echoRoundTrips(route: Route, rounds: number): Promise<number[]> {
  const socket = await openEcho(route);
  try {
    const payload = Buffer.from('ping 0123456789abcdef');
    for (let i = 0; i < Math.min(200, rounds); i++) await echoOnce(socket, payload);
    const times: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const start = process.hrtime.bigint();
      await echoOnce(socket, payload);
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return times;
  } finally {
    await closeAll([socket]);
  }
}

/** RSS of a proxy's processes before one more batch of idle WebSockets was opened, and after. */
export interface IdleSocketsStep {
  rssBeforeBytes: number;
  rssAfterBytes: number;
}

/** What opening idle WebSockets through a proxy cost it, `count` more at each step. */
export interface IdleSocketsResult {
  count: number;
  steps: IdleSocketsStep[];
  /** Each upgrade's time in ms (opened one after another), over all steps. */
  upgradeMs: number[];
}

/**
 * The proxy's memory as `count` more WebSockets are opened, one after another, at each of `steps`
 * steps, all kept open and idle; every socket must still echo at the end, so that a proxy that
 * dropped some does not look cheap. `readMemory` is read before the first step and after each (the
 * caller collects a Node proxy's garbage first). A first, unmeasured batch compiles the proxy's
 * upgrade path and allocates its pools. Sockets are never closed in between: a process keeps the
 * memory that closed sockets used and would reuse it for the next ones, hiding their cost.
 */
export async function idleSocketMemory(route: Route, readMemory: () => Promise<number>, count: number, steps: number): Promise<IdleSocketsResult> {
  const warmUp: WebSocket[] = [];
  try {
    await openSequentially(route, Math.min(100, count), [], warmUp);
  } finally {
    await closeAll(warmUp);
  }
  const result: IdleSocketsResult = { count, steps: [], upgradeMs: [] };
  const sockets: WebSocket[] = [];
  try {
    let rssBeforeBytes = await readMemory();
    for (let step = 0; step < steps; step++) {
      await openSequentially(route, count, result.upgradeMs, sockets);
      const rssAfterBytes = await readMemory();
      result.steps.push({ rssBeforeBytes, rssAfterBytes });
      rssBeforeBytes = rssAfterBytes;
    }
    const payload = Buffer.from('still there?');
    await Promise.all(sockets.map((socket) => echoOnce(socket, payload)));
    return result;
  } finally {
    await closeAll(sockets);
  }
}

/** Opens `count` echo sockets one after another into `sockets` (the caller closes them), recording each upgrade's time in ms. */
async function openSequentially(route: Route, count: number, upgradeMs: number[], sockets: WebSocket[]): Promise<void> {
  for (let i = 0; i < count; i++) {
    const start = process.hrtime.bigint();
    sockets.push(await openEcho(route));
    upgradeMs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
}

/** Closes the sockets and waits for each close (terminating any that does not close in time). */
async function closeAll(sockets: WebSocket[], timeoutMs = 5_000): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => socket.terminate(), timeoutMs);
          socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          socket.close();
        }),
    ),
  );
}

/** Summed RSS of the processes and all their descendants. */
export function treeResidentBytes(pids: number[]): number {
  return pids.flatMap(withDescendants).reduce((sum, pid) => sum + (residentBytes(pid) ?? 0), 0);
}

/** The process and all its descendants (nginx's master and worker). */
export function withDescendants(pid: number): number[] {
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const listed = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (listed) children = children.concat(listed.split(/\s+/).map(Number));
    }
  } catch {
    return [pid]; // gone, or no /proc: the process alone
  }
  return [pid, ...children.flatMap(withDescendants)];
}
