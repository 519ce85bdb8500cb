import { connect, createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitForPortOptions {
  /** Stops the wait: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Time between attempts (default 25 ms: a refused connection on loopback costs next to nothing). */
  intervalMs?: number;
  /** Default 127.0.0.1: the tool runs beside the agent. */
  host?: string;
}

/** Resolves once `host:port` accepts a TCP connection, trying again every `intervalMs` until aborted. */
export async function waitForPort(port: number, options: WaitForPortOptions = {}): Promise<void> {
  const { signal, intervalMs = 25, host = '127.0.0.1' } = options;
  for (;;) {
    signal?.throwIfAborted();
    if (await accepts(host, port, signal)) return;
    signal?.throwIfAborted();
    try {
      await sleep(intervalMs, undefined, { signal });
    } catch (error) {
      signal?.throwIfAborted(); // the caller's reason rather than the timer's own AbortError
      throw error;
    }
  }
}

/** Resolves once `host:port` refuses a TCP connection, checking every `intervalMs` until aborted. */
export async function waitForPortClosed(port: number, options: WaitForPortOptions = {}): Promise<void> {
  const { signal, intervalMs = 2_000, host = '127.0.0.1' } = options;
  for (;;) {
    signal?.throwIfAborted();
    await sleep(intervalMs, undefined, { signal });
    if (!(await accepts(host, port, signal))) {
      signal?.throwIfAborted();
      return;
    }
  }
}

/** One attempt: true if the connection was accepted (it is closed at once). */
function accepts(host: string, port: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const settle = (accepted: boolean) => {
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(accepted);
    };
    const onAbort = () => settle(false);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => settle(true));
    socket.once('error', () => settle(false));
  });
}

/** A TCP port on 127.0.0.1 that nothing listens on right now, for a tool that was not given one. */
export function pickFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}
