import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, stopProcess, watchChild } from './processes.ts';

/**
 * A real, throwaway redis-server on 127.0.0.1: an ephemeral port, no persistence, its own working
 * directory. Tests give each store their own key prefix rather than a server each.
 */
export interface RedisServer {
  /** `redis://127.0.0.1:PORT`, or `redis://:PASSWORD@127.0.0.1:PORT` when the server requires one. */
  url: string;
  port: number;
  /** Stops the server (by PID, waiting for it to exit) and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

const startTimeoutMs = 10_000;
/** Another process may take the free port between our probe and redis binding it; try a fresh one. */
const portAttempts = 3;

export interface RedisOptions {
  /** Require this password (`requirepass`) of every client. */
  password?: string;
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  const { password } = options;
  const dir = await mkdtemp(join(tmpdir(), 'berth-redis-'));
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const server = spawn(
        'redis-server',
        [
          ...['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, '--loglevel', 'warning'],
          ...(password === undefined ? [] : ['--requirepass', password]),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const started = await waitForPong(server, port, password);
      if (started.ok) {
        let stopped: Promise<void> | undefined;
        const stop = () =>
          (stopped ??= (async () => {
            await stopProcess(server);
            await rm(dir, { recursive: true, force: true });
          })());
        const credentials = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
        return { url: `redis://${credentials}127.0.0.1:${port}`, port, stop };
      }
      await stopProcess(server);
      if (!started.portTaken || attempt === portAttempts) throw new Error(`redis-server did not start: ${started.reason}`);
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

type StartResult = { ok: true } | { ok: false; portTaken: boolean; reason: string };

/** Waits until the server answers PING, or exits, or the start timeout passes. */
async function waitForPong(server: ChildProcess, port: number, password: string | undefined): Promise<StartResult> {
  const watch = watchChild(server);
  const deadline = Date.now() + startTimeoutMs;
  while (!watch.exited() && Date.now() < deadline) {
    if (await answersPing(port, password)) return { ok: true };
    await sleep(25);
  }
  // An exit event may still be on its way when the log already says why.
  const reason = `${watch.exited() ?? `no PONG within ${startTimeoutMs} ms`}\n${watch.log()}`;
  return { ok: false, portTaken: /address already in use/i.test(watch.log()), reason };
}

/** One RESP round trip on a fresh socket (AUTH first when a password is set); any failure counts as "not yet". */
function answersPing(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    const finish = (answered: boolean) => {
      socket.destroy();
      resolve(answered);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.once('error', () => finish(false));
    socket.once('connect', () => socket.write((password === undefined ? '' : respCommand('AUTH', password)) + respCommand('PING')));
    socket.on('data', (data) => {
      reply += data.toString();
      if (reply.includes('+PONG\r\n')) finish(true);
      else if (reply.startsWith('-') || reply.includes('\r\n-')) finish(false);
    });
  });
}

/** A command as a RESP array of bulk strings, so that any argument (a password with spaces) is sent intact. */
function respCommand(...args: string[]): string {
  return `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
}

