import { BuildFailed, FAILURE_TAIL_LINES, type RegistryLogin } from './build-executor.ts';
import { BuildTranscript, stripColours } from './failure-report.ts';

/** A partial line longer than this is passed on without waiting for its line break (a `\r` progress bar never sends one). */
const MAX_PENDING_CHARS = 64 * 1024;
/** Shorter "secrets" are not blanked out: they would mangle ordinary words of the log. */
const MIN_SECRET_CHARS = 4;
const REDACTED = '********';

/**
 * The path from a tool's output to the build's log, shared by every executor: splits the output into lines,
 * blanks out the logins' secrets, strips colour codes, passes each line on to `log` and keeps the transcript
 * a failure report is made from. The executors never hand a secret to a tool's command line or environment;
 * the blanking is a second line of defence against a tool or registry echoing one back.
 */
export class BuildOutput {
  private pending = '';
  private transcript: BuildTranscript;
  private readonly secrets: string[];
  private readonly tailLines: number;

  /**
   * `options.onLine` sees every line as it goes to the log (the docker executor learns from them which
   * containers and images the build made).
   */
  constructor(
    private readonly log: (chunk: string) => void,
    logins: readonly RegistryLogin[],
    private readonly options: { tailLines?: number; onLine?: (line: string) => void } = {},
  ) {
    this.tailLines = options.tailLines ?? FAILURE_TAIL_LINES;
    this.transcript = new BuildTranscript(this.tailLines);
    this.secrets = secretForms(logins);
  }

  /** Output of the tool, whole or partial lines. */
  write(chunk: string): void {
    this.pending += chunk;
    let newline: number;
    while ((newline = this.pending.indexOf('\n')) >= 0) {
      this.emit(this.pending.slice(0, newline));
      this.pending = this.pending.slice(newline + 1);
    }
    if (this.pending.length > MAX_PENDING_CHARS) this.end();
  }

  /** Passes on a partial last line; call when the tool's output ends. */
  end(): void {
    if (this.pending === '') return;
    const rest = this.pending;
    this.pending = '';
    this.emit(rest);
  }

  /** Starts a new phase (the push after the build): later failure reports leave the build's steps out. */
  nextPhase(): void {
    this.end();
    this.transcript = new BuildTranscript(this.tailLines);
  }

  /**
   * The failure of the current phase, reported from what the tool wrote. `message` is the tool's own summary
   * when the executor got one apart from the output; `fallback` is used when neither exists.
   */
  failure(options: { message?: string; fallback: string; exitCode?: number }): BuildFailed {
    this.end();
    const message = options.message === undefined ? undefined : this.redact(options.message);
    return new BuildFailed(this.transcript.report({ ...options, message, fallback: this.redact(options.fallback) }));
  }

  private emit(rawLine: string): void {
    const line = this.redact(stripColours(rawLine.replace(/\r$/, '')));
    this.transcript.line(line);
    this.options.onLine?.(line);
    this.log(`${line}\n`);
  }

  private redact(text: string): string {
    let result = text;
    for (const secret of this.secrets) result = result.replaceAll(secret, REDACTED);
    return result;
  }
}

/** Each password as given and inside the Basic and registry-auth encodings a tool might print; longest first. */
function secretForms(logins: readonly RegistryLogin[]): string[] {
  const forms = new Set<string>();
  for (const { username, password } of logins) {
    if (password.length < MIN_SECRET_CHARS) continue;
    const basic = Buffer.from(`${username}:${password}`);
    forms.add(password);
    forms.add(basic.toString('base64'));
    forms.add(basic.toString('base64url'));
  }
  return [...forms].sort((a, b) => b.length - a.length);
}
