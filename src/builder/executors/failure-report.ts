import { FAILURE_TAIL_LINES, type FailureReport } from './build-executor.ts';

/**
 * Turns a build's output into the error report kept with a failed build: the last step the tool announced,
 * the failing command's exit code and the last lines of that step's output. It understands both tools'
 * wording, so either executor feeds it lines and asks for a report when the build fails:
 *
 * - buildah: `STEP 2/3: RUN false`, in multi-stage builds `[2/2] STEP 3/3: RUN false` (numbered per stage);
 *   the failure is `Error: building at STEP "RUN false": exit status 1`.
 * - docker (classic builder): `Step 2/3 : RUN false` (numbered across stages); the failure is
 *   `The command '/bin/sh -c false' returned a non-zero code: 1`.
 *
 * Memory is bounded: only the current step's last lines and one total per stage are kept.
 */
export class BuildTranscript {
  private step: { text: string; number: number } | undefined;
  /** buildah numbers steps per stage; the totals of the stages seen so far give the step's place overall. */
  private readonly stageTotals = new Map<number, number>();
  /** Lines since the current step's header (or since the start), at most `tailLines`. */
  private tail: string[] = [];
  private lastError: string | undefined;

  constructor(private readonly tailLines: number = FAILURE_TAIL_LINES) {}

  /** One line of output, without its line break. */
  line(raw: string): void {
    const text = stripColours(raw).trimEnd();
    const header = parseStepHeader(text);
    if (header) {
      this.enterStep(header);
      return;
    }
    if (text.trim() === '' || isBookkeeping(text)) return;
    const error = /^Error: (.+)$/.exec(text);
    if (error) this.lastError = error[1];
    this.tail.push(text);
    if (this.tail.length > this.tailLines) this.tail.shift();
  }

  /**
   * The report for a failure now. `message` is the tool's own summary when the caller has one (docker's
   * `errorDetail`); otherwise the last `Error:` line of the output, else `fallback`. `exitCode` wins over one
   * read from the message.
   */
  report(options: { message?: string; fallback: string; exitCode?: number }): FailureReport {
    const message = options.message ?? this.lastError ?? options.fallback;
    const exitCode = options.exitCode ?? exitCodeIn(message);
    return {
      ...(this.step ? { step: this.step.text, stepNumber: this.step.number } : {}),
      ...(exitCode === undefined ? {} : { exitCode }),
      lastLines: [...this.tail],
      message,
    };
  }

  private enterStep(header: StepHeader): void {
    let number = header.step;
    if (header.stage !== undefined) {
      this.stageTotals.set(header.stage, header.total);
      for (const [stage, total] of this.stageTotals) if (stage < header.stage) number += total;
    }
    this.step = { text: header.instruction, number };
    this.tail = [];
  }
}

/** A whole captured log → its report; for logs read back from storage, and for tests. */
export function failureReportFromLog(log: string, options: { message?: string; fallback?: string; exitCode?: number; tailLines?: number } = {}): FailureReport {
  const transcript = new BuildTranscript(options.tailLines);
  for (const line of log.split('\n')) transcript.line(line);
  return transcript.report({ ...options, fallback: options.fallback ?? 'the build failed' });
}

interface StepHeader {
  /** 1-based stage index (buildah multi-stage builds only). */
  stage?: number;
  step: number;
  total: number;
  instruction: string;
}

const BUILDAH_STEP = /^(?:\[(\d+)\/\d+\] )?STEP (\d+)\/(\d+): (.+)$/;
const DOCKER_STEP = /^Step (\d+)\/(\d+) : (.+)$/;

export function parseStepHeader(line: string): StepHeader | undefined {
  const buildah = BUILDAH_STEP.exec(line);
  if (buildah) {
    const [, stage, step, total, instruction] = buildah as unknown as [string, string | undefined, string, string, string];
    return { ...(stage === undefined ? {} : { stage: Number(stage) }), step: Number(step), total: Number(total), instruction };
  }
  const docker = DOCKER_STEP.exec(line);
  if (docker) {
    const [, step, total, instruction] = docker as unknown as [string, string, string, string];
    return { step: Number(step), total: Number(total), instruction };
  }
  return undefined;
}

const EXIT_CODE_PATTERNS = [/returned a non-zero code: (\d+)/, /exit status (\d+)/, /exited with status (\d+)/];

/** The exit code a tool names in its failure message, if any. */
export function exitCodeIn(message: string): number | undefined {
  for (const pattern of EXIT_CODE_PATTERNS) {
    const match = pattern.exec(message);
    if (match) return Number(match[1]);
  }
  return undefined;
}

/** docker's progress lines between steps: image ids and container housekeeping, not the step's output. */
function isBookkeeping(line: string): boolean {
  return /^ --->/.test(line) || /^Removing intermediate container [0-9a-f]+$/.test(line);
}

/** Terminal colour codes (docker wraps a RUN step's stderr in red). */
export function stripColours(text: string): string {
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}
