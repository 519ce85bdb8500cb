/**
 * What a benchmark started, undone in reverse order: servers stopped by PID, temporary
 * directories removed. Runs once, whether the benchmark finishes, throws, or is interrupted.
 */
export class Cleanup {
  private readonly steps: Array<{ what: string; undo: () => Promise<void> }> = [];
  private running: Promise<void> | undefined;

  /** Registers an undo step; later steps run first. */
  defer(what: string, undo: () => Promise<void>): void {
    this.steps.push({ what, undo });
  }

  /** Runs every step once; a failing step is reported and does not stop the others. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        await step.undo().catch((error: unknown) => console.error(`cleanup: ${step.what}: ${(error as Error)?.message ?? error}`));
      }
    })();
    return this.running;
  }

  /** Ctrl-C or a TERM cleans up before the process exits (130/143, as a shell would report). */
  onSignals(): void {
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      process.once(signal, () => {
        console.error(`\n${signal}: stopping what the benchmark started…`);
        void this.run().finally(() => process.exit(code));
      });
    }
  }
}
