import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';

/** How the tool ended, in the shell's terms: its exit code, or 128 + the number of the signal that ended it. */
export interface ToolEnding {
  exitCode: number;
  /** The signal that ended the tool (`SIGTERM`, `SIGKILL`, …), or null when it exited by itself. */
  signal: string | null;
  /** Why the tool could not run at all (e.g. the command does not exist). */
  message?: string;
}

export interface ToolProcessOptions {
  /** The tool's command and arguments, run without a shell. */
  command: readonly string[];
  /** The port the tool is to listen on, handed to it as `CONNECT_TOOL_PORT`. */
  port: number;
  /** Under path routing, the path the tool serves below, handed to it as `CONNECT_TOOL_PATH_PREFIX`. */
  pathPrefix?: string;
  /** The environment the tool inherits (default: the agent's), before the two variables above. */
  env?: NodeJS.ProcessEnv;
  /** Default `inherit`: the tool writes to the session's own output. */
  stdio?: StdioOptions;
}

export type StopSignal = 'SIGTERM' | 'SIGINT';

/**
 * The session's tool, run as a child of the agent in a process group of its own, so that a signal reaches
 * everything it started (a shell's children too) and not the agent.
 */
export class ToolProcess {
  /** Settles once, when the tool has ended; never rejects (a tool that cannot start ends with 126 or 127). */
  readonly ended: Promise<ToolEnding>;
  private readonly child: ChildProcess;
  private ending: ToolEnding | undefined;
  private stopping: Promise<ToolEnding> | undefined;

  private constructor(options: ToolProcessOptions) {
    const [file, ...args] = options.command;
    if (file === undefined) throw new Error('the tool command is empty');
    this.child = spawn(file, args, {
      env: toolEnvironment(options),
      stdio: options.stdio ?? 'inherit',
      // A new process group (and session) led by the tool: see `signalGroup`.
      detached: true,
    });
    this.ended = new Promise<ToolEnding>((resolve) => {
      const end = (ending: ToolEnding) => {
        if (this.ending) return;
        this.ending = ending;
        resolve(ending);
      };
      this.child.once('exit', (code, signal) => end(endingOf(code, signal)));
      // Emitted when the command cannot be started; later errors (a failed kill) change nothing about the ending.
      this.child.on('error', (error: NodeJS.ErrnoException) => {
        if (this.child.pid === undefined) end(startFailure(file, error));
      });
    });
  }

  /** Starts the tool; failing to start is reported through `ended`, not thrown. */
  static start(options: ToolProcessOptions): ToolProcess {
    return new ToolProcess(options);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True once the tool has ended. */
  get hasEnded(): boolean {
    return this.ending !== undefined;
  }

  /**
   * Sends `signal` (default SIGTERM) to the tool's process group, waits up to `graceMs` for the tool to end,
   * then SIGKILLs the group. Idempotent: a second call returns the first call's ending.
   */
  stop(graceMs: number, signal: StopSignal = 'SIGTERM'): Promise<ToolEnding> {
    this.stopping ??= this.stopWithin(graceMs, signal);
    return this.stopping;
  }

  /** SIGKILLs the tool's process group now (a second Ctrl-C, or a stop that must not wait). */
  kill(): void {
    this.signalGroup('SIGKILL');
  }

  private async stopWithin(graceMs: number, signal: StopSignal): Promise<ToolEnding> {
    if (this.ending) return this.ending;
    this.signalGroup(signal);
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)));
    const endedInTime = await Promise.race([this.ended.then(() => true), graceOver.then(() => false)]);
    clearTimeout(timer);
    if (!endedInTime) this.signalGroup('SIGKILL');
    return this.ended;
  }

  /**
   * Signals the whole group: a tool started through `sh -c` or a launcher script would otherwise pass the
   * signal on to nobody, and its real server would live on until SIGKILL.
   */
  private signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || this.ending) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is gone already; its leader's exit is on its way.
    }
  }
}

function toolEnvironment(options: ToolProcessOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...(options.env ?? process.env), CONNECT_TOOL_PORT: String(options.port) };
  if (options.pathPrefix !== undefined) env.CONNECT_TOOL_PATH_PREFIX = options.pathPrefix;
  return env;
}

/** The shell's convention: the exit code, or 128 + the signal's number. */
function endingOf(code: number | null, signal: NodeJS.Signals | null): ToolEnding {
  if (signal !== null) return { exitCode: 128 + (constants.signals[signal] ?? 0), signal };
  return { exitCode: code ?? 0, signal: null };
}

/** The shell's convention again: 127 for a command that is not there, 126 for one that cannot be run. */
function startFailure(file: string, error: NodeJS.ErrnoException): ToolEnding {
  if (error.code === 'ENOENT') return { exitCode: 127, signal: null, message: `cannot start the tool: ${file}: command not found` };
  return { exitCode: 126, signal: null, message: `cannot start the tool: ${file}: ${error.message}` };
}
