/** Why a running build's signal aborted. */
export class BuildCancelled extends Error {
  constructor(readonly by: string) {
    super(`cancelled by ${by}`);
    this.name = 'BuildCancelled';
  }
}

type Work = (signal: AbortSignal) => Promise<void>;

/**
 * Runs at most `concurrency` builds at once, first come first served. A pending build can be taken out
 * of the queue; a running one is cancelled through its AbortSignal (with a BuildCancelled reason) and
 * leaves its slot once its work has cleaned up.
 */
export class BuildQueue {
  private readonly waiting: Array<{ id: string; work: Work }> = [];
  private readonly running = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private closed = false;

  constructor(private readonly concurrency: number) {}

  /** Queues `work` under `id`; ignored when that id is already queued or running. */
  enqueue(id: string, work: Work): void {
    if (this.closed || this.running.has(id) || this.waiting.some((entry) => entry.id === id)) return;
    this.waiting.push({ id, work });
    this.pump();
  }

  /** Takes a pending build out of the queue or aborts a running one; false when `id` is neither. */
  cancel(id: string, by: string): boolean {
    const index = this.waiting.findIndex((entry) => entry.id === id);
    if (index >= 0) {
      this.waiting.splice(index, 1);
      return true;
    }
    const active = this.running.get(id);
    active?.controller.abort(new BuildCancelled(by));
    return active !== undefined;
  }

  get size(): { pending: number; running: number } {
    return { pending: this.waiting.length, running: this.running.size };
  }

  /** Stops taking work, aborts what runs (it will be re-queued at the next start) and waits for it to clean up. */
  async close(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    for (const active of this.running.values()) active.controller.abort(new BuildCancelled('shutdown'));
    await Promise.all([...this.running.values()].map((active) => active.done));
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency) {
      const next = this.waiting.shift();
      if (!next) return;
      const controller = new AbortController();
      const done = next
        .work(controller.signal)
        .catch(() => undefined)
        .finally(() => {
          this.running.delete(next.id);
          this.pump();
        });
      this.running.set(next.id, { controller, done });
    }
  }
}
