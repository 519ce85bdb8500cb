/**
 * Remembers when bytes last went to or from the tool and reports it at most once per period, so idle
 * detection costs one timestamp per event on the hot path and one message every few seconds.
 */
export class ActivityMeter {
  private lastAt = 0;
  private reportedAt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly periodMs: number,
    private readonly report: (at: number) => void,
  ) {}

  touch(): void {
    this.lastAt = Date.now();
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), this.periodMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.lastAt === this.reportedAt) {
      this.stop(); // quiet: no timer until the next byte
      return;
    }
    this.reportedAt = this.lastAt;
    this.report(this.lastAt);
  }
}
