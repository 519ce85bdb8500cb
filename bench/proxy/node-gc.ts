import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

/**
 * A Node flag that opens the inspector on a free loopback port (announced in the process's log),
 * so that the benchmark can ask the process for a full garbage collection before it reads its RSS:
 * otherwise a Node heap's garbage, which comes and goes in steps of megabytes, drowns what a
 * thousand sockets cost. Without a client attached the inspector costs nothing measurable.
 */
export const inspectorFlag = '--inspect=127.0.0.1:0';

/** Runs a full, memory-reducing garbage collection in the Node process whose log is `logFile`. */
export async function collectGarbage(logFile: string): Promise<void> {
  const url = await inspectorUrl(logFile);
  const socket = new WebSocket(url, { perMessageDeflate: false });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      socket.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { id?: number; error?: { message: string } };
        if (message.id !== 1) return;
        if (message.error) reject(new Error(`HeapProfiler.collectGarbage: ${message.error.message}`));
        else resolve();
      });
      socket.once('close', () => reject(new Error(`the inspector at ${url} closed before collecting garbage`)));
      socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
    });
  } finally {
    socket.terminate();
  }
}

/** The inspector's WebSocket URL as Node prints it at start ("Debugger listening on ws://…"). */
async function inspectorUrl(logFile: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const match = /Debugger listening on (ws:\/\/\S+)/.exec(await readFile(logFile, 'utf8').catch(() => ''));
    if (match) return match[1]!;
    await sleep(100);
  }
  throw new Error(`${logFile} announces no inspector: was the process started with ${inspectorFlag}?`);
}
