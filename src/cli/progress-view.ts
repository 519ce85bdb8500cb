import type { ProgressEvent, ProgressSink } from '../toolbox/toolbox-operation.ts';

/**
 * How the CLI shows a toolbox operation's ProgressEvents on stderr: on a terminal, a live view
 * redrawn in place (one row per running transfer with its bar and MB/s, and a total row); anywhere
 * else, one plain line per thing that happened ("copying sha256:ab12… 12.3 MB", "skipped …",
 * "done … 8.1 MB/s"), fit for logs and CI.
 */
export interface ProgressView {
  sink: ProgressSink;
  /** Draws the last frame for good (live) and stops; call once the operation has ended, however it ended. */
  finish(): void;
}

export interface ProgressViewOptions {
  /** Where to write; default process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Force the live view on or off; default: live when the stream is a terminal. */
  live?: boolean;
}

interface TransferRow {
  label: string;
  totalBytes: number;
  doneBytes: number;
  state: Extract<ProgressEvent, { kind: 'transfer' }>['state'];
  /** When the first bytes moved and how many there were then, for the rate of this run alone. */
  startedAt?: number;
  startBytes: number;
  endedAt?: number;
}

const redrawIntervalMs = 100;
const maxLiveRows = 12;
const barWidth = 20;

export function progressView(options: ProgressViewOptions = {}): ProgressView {
  const stream = options.stream ?? process.stderr;
  const live = options.live ?? Boolean(stream.isTTY);
  return live ? new LiveView(stream).asView() : plainView(stream);
}

/** Megabytes (10^6), as transfer tools print them. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  if (bytes < 1_000_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${(bytes / 1_000_000_000).toFixed(2)} GB`;
}

export function formatRate(bytes: number, ms: number): string {
  return `${(bytes / 1_000_000 / Math.max(ms / 1000, 0.001)).toFixed(1)} MB/s`;
}

function rowRate(row: TransferRow, now: number): string {
  if (row.startedAt === undefined) return '';
  return formatRate(row.doneBytes - row.startBytes, (row.endedAt ?? now) - row.startedAt);
}

/** Keeps the rows up to date from events; both views share it. */
function applyTransfer(rows: Map<string, TransferRow>, event: Extract<ProgressEvent, { kind: 'transfer' }>, now: number): TransferRow {
  const row = rows.get(event.id) ?? { label: event.label, totalBytes: event.totalBytes, doneBytes: 0, state: event.state, startBytes: 0 };
  if (event.state === 'copying' && row.startedAt === undefined) {
    row.startedAt = now;
    row.startBytes = event.doneBytes;
  }
  if (event.state === 'done' || event.state === 'failed' || event.state === 'skipped' || event.state === 'mounted') row.endedAt = now;
  Object.assign(row, { label: event.label, totalBytes: event.totalBytes, doneBytes: event.doneBytes, state: event.state });
  rows.set(event.id, row);
  return row;
}

function plainView(stream: NodeJS.WritableStream): ProgressView {
  const rows = new Map<string, TransferRow>();
  const say = (line: string) => stream.write(`${line}\n`);
  return {
    sink(event) {
      if (event.kind === 'step') return say(event.message);
      const previous = rows.get(event.id)?.state;
      const row = applyTransfer(rows, event, Date.now());
      if (event.state === previous) return;
      const size = formatBytes(row.totalBytes);
      if (event.state === 'copying') say(`copying ${row.label} ${size}${row.startBytes > 0 ? ` (resuming at ${formatBytes(row.startBytes)})` : ''}`);
      else if (event.state === 'skipped') say(`skipped ${row.label} ${size} (already there)`);
      else if (event.state === 'mounted') say(`mounted ${row.label} ${size}`);
      else if (event.state === 'done') say(`done ${row.label} ${size} ${rowRate(row, Date.now())}`);
      else if (event.state === 'failed') say(`failed ${row.label}`);
    },
    finish() {},
  };
}

/** The terminal view: permanent lines for steps, and a block of rows redrawn in place below them. */
class LiveView {
  private readonly rows = new Map<string, TransferRow>();
  private readonly startedAt = Date.now();
  private drawnLines = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished = false;

  constructor(private readonly stream: NodeJS.WritableStream & { columns?: number }) {}

  asView(): ProgressView {
    return { sink: (event) => this.accept(event), finish: () => this.finish() };
  }

  private accept(event: ProgressEvent): void {
    if (this.finished) return;
    if (event.kind === 'step') {
      this.clear();
      this.stream.write(`${event.message}\n`);
      this.draw();
      return;
    }
    applyTransfer(this.rows, event, Date.now());
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.clear();
      this.draw();
    }, redrawIntervalMs);
  }

  private finish(): void {
    if (this.finished) return;
    clearTimeout(this.timer);
    this.clear();
    this.draw();
    this.finished = true;
  }

  /** Moves the cursor back over the rows drawn last and erases them. */
  private clear(): void {
    if (this.drawnLines > 0) this.stream.write(`\x1b[${this.drawnLines}F\x1b[J`);
    this.drawnLines = 0;
  }

  private draw(): void {
    const now = Date.now();
    const all = [...this.rows.values()];
    if (all.length === 0) return;
    const active = all.filter((row) => row.state === 'copying').slice(0, maxLiveRows);
    const width = Math.max(40, (this.stream.columns || 100) - 1);
    const lines = active.map((row) => this.fit(`${row.label.padEnd(28)} ${bar(row.doneBytes, row.totalBytes)} ${formatBytes(row.doneBytes)}/${formatBytes(row.totalBytes)} ${rowRate(row, now)}`, width));
    const finished = all.filter((row) => row.state === 'done' || row.state === 'skipped' || row.state === 'mounted').length;
    const total = all.reduce((sum, row) => sum + row.totalBytes, 0);
    const done = all.reduce((sum, row) => sum + (row.state === 'failed' ? 0 : row.doneBytes), 0);
    const moved = all.reduce((sum, row) => sum + (row.startedAt === undefined ? 0 : row.doneBytes - row.startBytes), 0);
    lines.push(this.fit(`total ${finished}/${all.length} ${bar(done, total)} ${formatBytes(done)}/${formatBytes(total)} ${formatRate(moved, now - this.startedAt)}`, width));
    this.stream.write(`${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }

  private fit(line: string, width: number): string {
    return line.length > width ? `${line.slice(0, width - 1)}…` : line;
  }
}

function bar(done: number, total: number): string {
  const filled = total > 0 ? Math.min(barWidth, Math.round((done / total) * barWidth)) : barWidth;
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}]`;
}
