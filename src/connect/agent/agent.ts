import { AgentTunnel, type AgentTunnelOptions } from '../tunnel/agent-tunnel.ts';
import type { AgentEvent } from '../tunnel/tunnel-protocol.ts';
import type { AgentOptions, CommandTool } from './agent-options.ts';
import { pickFreePort, waitForPort, waitForPortClosed } from './port-probe.ts';
import { ToolProcess, type StopSignal, type ToolEnding } from './tool-process.ts';

type StatusEvent = Extract<AgentEvent, { type: 'status' }>;

/** What the agent needs of its tunnel; tests give it a recording one. */
export interface AgentTunnelHandle {
  start(): void;
  report(event: StatusEvent): void;
  flush(timeoutMs: number): Promise<boolean>;
  onFatal?: (message: string) => void;
  close(): Promise<void>;
}

/** Where signals come from: `process`, or an emitter a test drives. */
export interface SignalSource {
  on(signal: StopSignal, listener: () => void): unknown;
  off(signal: StopSignal, listener: () => void): unknown;
}

export interface AgentDependencies {
  createTunnel?: (options: AgentTunnelOptions) => AgentTunnelHandle;
  signals?: SignalSource;
  log?: (line: string) => void;
  /** The environment the tool starts from (default: the agent's). */
  env?: NodeJS.ProcessEnv;
}

/** Why the agent stops before its tool ends by itself. */
type StopRequest = { kind: 'signal'; signal: StopSignal } | { kind: 'fatal'; message: string };

/** How long the last status may take to reach Berth before the agent exits anyway. */
const statusFlushMs = 5_000;
/** How often a sidecar's port is checked once it runs: a dead sidecar shows as starting within seconds. */
const sidecarCheckMs = 2_000;
/** The exit status when the connect server refused the agent for good. */
const refusedExitStatus = 1;

/**
 * Runs one session's agent: opens the tunnel, starts the tool (or attaches to a sidecar), reports
 * `starting` → `running` (once the tool's port accepts connections) → `stopped`, and resolves with the
 * status the agent should exit with: the tool's, 0 for a sidecar stopped by a signal, 1 when refused.
 */
export async function runAgent(options: AgentOptions, deps: AgentDependencies = {}): Promise<number> {
  const log = deps.log ?? logToStderr;
  const signals = deps.signals ?? process;
  const toolPort = options.tool.port ?? (await pickFreePort());
  const tunnel = (deps.createTunnel ?? ((tunnelOptions) => new AgentTunnel(tunnelOptions)))({
    connectUrl: options.connectUrl,
    sessionId: options.sessionId,
    token: options.token,
    toolPort,
    log,
  });

  const stopRequests = new StopRequests();
  tunnel.onFatal = (message) => stopRequests.request({ kind: 'fatal', message });
  const onTerm = () => stopRequests.request({ kind: 'signal', signal: 'SIGTERM' });
  const onInt = () => stopRequests.request({ kind: 'signal', signal: 'SIGINT' });
  signals.on('SIGTERM', onTerm);
  signals.on('SIGINT', onInt);
  try {
    tunnel.start();
    tunnel.report({ type: 'status', status: 'starting' });
    const reportRunning = () => {
      log(`the tool accepts connections on port ${toolPort}`);
      tunnel.report({ type: 'status', status: 'running' });
    };
    const reportStarting = (reason: string) => {
      log(reason);
      tunnel.report({ type: 'status', status: 'starting', message: reason });
    };
    const run: RunContext = { port: toolPort, stopRequests, reportRunning, reportStarting, log };
    const ending =
      options.tool.kind === 'sidecar' ? await attachToSidecar(run) : await runTool(options.tool, options, deps.env ?? process.env, run);
    const fatal = stopRequests.current?.kind === 'fatal' ? stopRequests.current.message : undefined;
    tunnel.report(stoppedEvent(ending, fatal));
    // A refused agent has no tunnel to tell; otherwise give the last word a moment to reach Berth.
    if (!fatal && !(await tunnel.flush(statusFlushMs))) log('could not tell Berth that the tool stopped: no tunnel');
    await tunnel.close();
    if (fatal) return refusedExitStatus;
    return ending?.exitCode ?? 0;
  } finally {
    signals.off('SIGTERM', onTerm);
    signals.off('SIGINT', onInt);
  }
}

/** What starting the tool and attaching to a sidecar share. */
interface RunContext {
  port: number;
  stopRequests: StopRequests;
  reportRunning: () => void;
  reportStarting: (reason: string) => void;
  log: (line: string) => void;
}

async function runTool(tool: CommandTool, options: AgentOptions, env: NodeJS.ProcessEnv, run: RunContext): Promise<ToolEnding> {
  const { port, stopRequests, reportRunning, log } = run;
  const toolProcess = ToolProcess.start({
    command: tool.command,
    port,
    ...(options.pathPrefix === undefined ? {} : { pathPrefix: options.pathPrefix }),
    env: withoutAgentSecrets(env),
  });
  const probe = new AbortController();
  waitForPort(port, { signal: probe.signal }).then(
    () => {
      if (!toolProcess.hasEnded) reportRunning();
    },
    () => undefined, // aborted: the tool ended first
  );
  stopRequests.onRequest((request, repeated) => {
    if (repeated) {
      log('asked again: killing the tool now');
      return toolProcess.kill();
    }
    const signal = request.kind === 'signal' ? request.signal : 'SIGTERM';
    log(`stopping the tool: ${signal}, then SIGKILL after ${options.graceMs / 1000} s`);
    void toolProcess.stop(options.graceMs, signal);
  });
  const ending = await toolProcess.ended;
  probe.abort();
  log(describeEnding(ending));
  return ending;
}

/**
 * A sidecar's lifetime is the runtime's business: the agent reports it running while its port accepts
 * connections (back to starting when it stops accepting, e.g. while the runtime restarts it) and stops when told to.
 */
async function attachToSidecar({ port, stopRequests, reportRunning, reportStarting }: RunContext): Promise<null> {
  const probe = new AbortController();
  const follow = async () => {
    for (;;) {
      await waitForPort(port, { signal: probe.signal });
      reportRunning();
      await waitForPortClosed(port, { signal: probe.signal, intervalMs: sidecarCheckMs });
      reportStarting(`the tool beside the agent stopped accepting connections on port ${port}`);
    }
  };
  follow().catch(() => undefined); // aborted: the agent is stopping
  await stopRequests.first;
  probe.abort();
  return null;
}

function stoppedEvent(ending: ToolEnding | null, fatal: string | undefined): StatusEvent {
  const message = fatal ?? ending?.message;
  return {
    type: 'status',
    status: 'stopped',
    exitCode: ending?.exitCode ?? null,
    signal: ending?.signal ?? null,
    ...(message === undefined ? {} : { message }),
  };
}

function describeEnding(ending: ToolEnding): string {
  if (ending.message) return `${ending.message} (exit status ${ending.exitCode})`;
  if (ending.signal) return `the tool was ended by ${ending.signal} (exit status ${ending.exitCode})`;
  return `the tool exited with status ${ending.exitCode}`;
}

/** The agent token opens this session's tunnel; the tool (and whatever its users run) has no use for it. */
function withoutAgentSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const toolEnv = { ...env };
  delete toolEnv.BERTH_SESSION_TOKEN;
  return toolEnv;
}

function logToStderr(line: string): void {
  process.stderr.write(`berth agent: ${line}\n`);
}

/** The first reason to stop wins; later ones (a second Ctrl-C) are passed on as repeats. */
class StopRequests {
  current: StopRequest | undefined;
  readonly first: Promise<StopRequest>;
  private resolveFirst!: (request: StopRequest) => void;
  private listener: ((request: StopRequest, repeated: boolean) => void) | undefined;

  constructor() {
    this.first = new Promise((resolve) => (this.resolveFirst = resolve));
  }

  request(request: StopRequest): void {
    const repeated = this.current !== undefined;
    this.current ??= request;
    this.resolveFirst(request);
    this.listener?.(request, repeated);
  }

  /** Hears every request, including one made before it was set. */
  onRequest(listener: (request: StopRequest, repeated: boolean) => void): void {
    this.listener = listener;
    if (this.current) listener(this.current, false);
  }
}
