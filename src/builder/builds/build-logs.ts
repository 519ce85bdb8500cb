import { EventEmitter, once } from 'node:events';
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A build's output beyond this is dropped (with a note), so a runaway build cannot fill the disk. */
export const MAX_LOG_BYTES = 16 * 1024 * 1024;

/** Output a live follower may fall behind by before it is let go. */
const MAX_FOLLOWER_BACKLOG = 4 * 1024 * 1024;

/** The output of one running build: appended synchronously, so a follower's snapshot is always on disk. */
export interface LogWriter {
  write(text: string): void;
  /** Ends the log; followers finish after reading the rest. Idempotent. */
  close(): void;
}

interface Live {
  written: number;
  events: EventEmitter;
}

/**
 * Build logs: one file per build under `dir`, kept after the build, plus live followers while it runs.
 * Text given to a writer passes through `redact` first, so a secret that reaches a tool's output never
 * reaches the file.
 */
export class BuildLogs {
  private readonly live = new Map<string, Live>();
  /** Emits the id of each build whose log opens, for followers of builds still queued. */
  private readonly opens = new EventEmitter().setMaxListeners(0);

  constructor(private readonly dir: string) {}

  async open(id: string, redact: (text: string) => string): Promise<LogWriter> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const fd = openSync(this.path(id), 'a', 0o600);
    const state: Live = { written: fstatSync(fd).size, events: new EventEmitter() };
    this.live.set(id, state);
    this.opens.emit(id);
    let closed = false;
    let truncated = false;
    return {
      write: (text) => {
        if (closed || truncated) return;
        let bytes = Buffer.from(redact(text));
        if (state.written + bytes.length > MAX_LOG_BYTES) {
          bytes = Buffer.from(`\n[berth] the log exceeded ${MAX_LOG_BYTES} bytes; the rest of the output is not kept\n`);
          truncated = true;
        }
        writeSync(fd, bytes);
        state.written += bytes.length;
        state.events.emit('data', bytes);
      },
      close: () => {
        if (closed) return;
        closed = true;
        closeSync(fd);
        this.live.delete(id);
        state.events.emit('end');
      },
    };
  }

  /** The whole log so far; empty when the build wrote nothing (or never started). */
  async read(id: string): Promise<Buffer> {
    try {
      return await readFile(this.path(id));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return Buffer.alloc(0);
      throw error;
    }
  }

  /**
   * The log so far, then each new piece as the build writes it, ending when the build's log closes
   * (at once when it is not running) or when `signal` aborts. With `queued`, a build that has not
   * started yet is waited for as long as `queued()` says it is still to start.
   */
  async *follow(id: string, signal: AbortSignal, queued?: () => Promise<boolean>): AsyncGenerator<Buffer> {
    if (!this.live.has(id) && queued) await this.waitForOpen(id, signal, queued);
    const state = this.live.get(id);
    if (!state) {
      const all = await this.read(id);
      if (all.length) yield all;
      return;
    }
    // Subscribe before taking the snapshot (same tick), so nothing falls between the two.
    const queue: Buffer[] = [];
    let backlog = 0;
    let ended = false;
    let wake: (() => void) | undefined;
    const onData = (piece: Buffer) => {
      // A follower that cannot keep up is let go rather than buffered without end; it can read the file later.
      if (backlog + piece.length > MAX_FOLLOWER_BACKLOG) return onEnd();
      backlog += piece.length;
      queue.push(piece);
      wake?.();
    };
    const onEnd = () => {
      ended = true;
      wake?.();
    };
    state.events.on('data', onData);
    state.events.once('end', onEnd);
    signal.addEventListener('abort', onEnd, { once: true });
    try {
      const snapshot = await this.readPrefix(id, state.written);
      if (snapshot.length) yield snapshot;
      while (!signal.aborted) {
        const piece = queue.shift();
        if (piece) {
          backlog -= piece.length;
          yield piece;
        }
        else if (ended) return;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      state.events.off('data', onData);
      state.events.off('end', onEnd);
      signal.removeEventListener('abort', onEnd);
    }
  }

  private async waitForOpen(id: string, signal: AbortSignal, queued: () => Promise<boolean>): Promise<void> {
    const stop = new AbortController();
    const opened = once(this.opens, id, { signal: AbortSignal.any([signal, stop.signal]) }).catch(() => undefined);
    if (this.live.has(id) || !(await queued())) stop.abort();
    await opened;
  }

  private async readPrefix(id: string, length: number): Promise<Buffer> {
    const handle = await open(this.path(id), 'r');
    try {
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buffer, 0, length, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  private path(id: string): string {
    return join(this.dir, `${id}.log`);
  }
}
