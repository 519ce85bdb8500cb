import { request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerProcess } from '../support/servers.ts';

/** Where a client sends requests for the tool, and what it adds to each (a studio's Host, a token). */
export interface Route {
  /** 127.0.0.1:port: `*.localhost` does not resolve here, so studio hosts go in the Host header. */
  address: string;
  headers: Record<string, string>;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One GET with node:http (fetch may not set Host). A new connection each time, so that a
 * readiness check never rides on a connection from before the route existed.
 */
export function get(route: Route, path: string, timeoutMs = 10_000): Promise<Answer> {
  const [host, port] = route.address.split(':');
  return new Promise((resolve, reject) => {
    const req = request({ host, port: Number(port), path, headers: route.headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path} via ${route.address}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `GET path` until it answers 200; fails with what it last saw and the servers' logs. */
export async function waitUntilServed(route: Route, path: string, servers: ServerProcess[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const answer = await get(route, path, 5_000);
      if (answer.status === 200) return;
      last = `status ${answer.status}: ${answer.body.toString('utf8', 0, 300)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(200);
  }
  const logs = await Promise.all(servers.map(async (server) => `--- ${server.logFile}\n${(await readFile(server.logFile, 'utf8').catch(() => '')).slice(-3000)}`));
  throw new Error(`GET ${path} via ${route.address} did not answer 200 in ${timeoutMs / 1000} s (${last})\n${logs.join('\n')}`);
}
