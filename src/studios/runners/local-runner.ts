/**
 * The `local` runner: a session is `berth agent -- <the template's host command>` run as child processes
 * of the Berth host.
 *
 * Sessions outlive the Berth process that started them (a restart must find them still running): the
 * agent is spawned in a process group of its own, writes to a log file rather than a pipe, and is not
 * waited for. Everything needed to find a session again lives in the handle (the agent's pid and its start
 * time, so that a reused pid is never taken for the session) and in a small record per session under the
 * work dir:
 *
 *   <workDir>/records/<sessionId>.json   labels, pid, start time (list() scans these)
 *   <workDir>/logs/<sessionId>.log       the agent's and the tool's output
 *   <workDir>/workspaces/<volume>/       the tool's working directory, kept between runs, removed with its studio
 *
 * Linux only: processes are identified through /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync, readFileSync, readdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { access, mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pickFreePort } from '../../connect/agent/port-probe.ts';
import { RunnerError, type LabelledSession, type Runner, type RunnerCheck, type SessionLaunch, type SessionObservation } from './runner.ts';

export interface LocalRunnerOptions {
  /** Where sessions' records, logs and workspaces live, e.g. `<dataDir>/sessions`. */
  workDir: string;
  /**
   * The agent as one bundled script (see prepareAgentBundle): it starts in a fraction of the time the source
   * tree takes. Without it, or when it cannot be made, the agent runs from this checkout's bin/berth.js.
   */
  agentBundle?: () => Promise<string>;
}

/** `bin/berth.js` of this checkout: it hands `agent` off before loading the control plane. */
const berthScript = fileURLToPath(new URL('../../../bin/berth.js', import.meta.url));
/** The agent ends the tool at the grace period and then still reports `stopped`; this is its time for that. */
const agentExitMarginS = 5;
/** `logs()` returns the end of the output, like a terminal's scrollback. */
const maxLogBytes = 1024 * 1024;
const pollMs = 50;
/** How long observe() waits for Node to reap an ended child and report its exit code (normally well under a millisecond). */
const exitReportWaitMs = 2_000;
/** How long a SIGKILLed process may take to disappear before stop() gives up (a process stuck in the kernel). */
const killSettleMs = 10_000;
/** File names are built from session ids and volume names: one plain path component each. */
const safeName = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/**
 * What the agent and the tool inherit from Berth's own environment: enough to find programs and a home,
 * nothing of Berth's settings or secrets (BERTH_*, cloud credentials). The studio's variables come on top.
 */
const inheritedVariables = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'TERM'];

/** A session's identity: the agent's pid and the start time the kernel gave that pid. */
interface LocalHandle {
  sessionId: string;
  pid: number;
  /** /proc/<pid>/stat field 22 (clock ticks after boot), as text. */
  startTime: string;
}

interface SessionRecord extends LocalHandle {
  labels: Record<string, string>;
  workspaceDir: string;
  startedAt: string;
}

/** What /proc/<pid>/stat says of a process. */
interface ProcessStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  startTime: string;
}

type Ending = { exitCode: number | null; signal: NodeJS.Signals | null };
/** How a spawned agent ended: `known` once Node has reported it, `ended` to wait for that report. */
type ChildEnding = { ended: Promise<Ending>; known?: Ending };

export class LocalRunner implements Runner {
  readonly platform = 'local' as const;
  /** How the agents this process spawned ended, by handle identity: only a parent learns an exit code. */
  private readonly endings = new Map<string, ChildEnding>();
  /** Stops in progress: a second SIGTERM would make the agent kill the tool at once, without its grace. */
  private readonly stopping = new Map<string, { done: Promise<void>; gracePeriodS: number }>();

  constructor(private readonly options: LocalRunnerOptions) {}

  private get recordsDir(): string {
    return join(this.options.workDir, 'records');
  }

  private get logsDir(): string {
    return join(this.options.workDir, 'logs');
  }

  async check(): Promise<RunnerCheck> {
    if (process.platform !== 'linux') return { available: false, reason: `the local runner needs Linux (/proc); this host runs ${process.platform}` };
    try {
      await access(process.execPath, fsConstants.X_OK);
      await access(berthScript, fsConstants.R_OK);
    } catch (error) {
      return { available: false, reason: `cannot run the session agent: ${messageOf(error)}` };
    }
    try {
      await mkdir(this.recordsDir, { recursive: true });
      const probe = join(this.recordsDir, `.probe-${process.pid}`);
      await writeFile(probe, '');
      await rm(probe, { force: true });
    } catch (error) {
      return { available: false, reason: `the work directory ${this.options.workDir} is not writable: ${messageOf(error)}` };
    }
    return { available: true };
  }

  async start(launch: SessionLaunch, progress: (message: string) => void): Promise<string> {
    const command = launch.hostCommand;
    if (command === null || command.length === 0) {
      throw new RunnerError('UNSUPPORTED', 'this template declares no host command, so it cannot run on a local compute environment');
    }
    if (launch.resources.gpu > 0) throw new RunnerError('UNSUPPORTED', 'a local compute environment cannot give a session GPUs');
    if (!safeName.test(launch.sessionId)) throw new RunnerError('START_FAILED', `not a usable session id: ${JSON.stringify(launch.sessionId)}`);
    if (!safeName.test(launch.workspaceVolume)) throw new RunnerError('START_FAILED', `not a usable workspace name: ${JSON.stringify(launch.workspaceVolume)}`);

    const workspaceDir = this.workspacePath(launch.workspaceVolume);
    try {
      await Promise.all([mkdir(this.recordsDir, { recursive: true }), mkdir(this.logsDir, { recursive: true }), mkdir(workspaceDir, { recursive: true })]);
    } catch (error) {
      throw new RunnerError('START_FAILED', `cannot prepare the session's directories under ${this.options.workDir}: ${messageOf(error)}`);
    }
    const port = await pickFreePort();
    const toolCommand = fillPlaceholders(command, { port: String(port), prefix: launch.env.CONNECT_TOOL_PATH_PREFIX ?? '/' });
    progress(`Starting the agent and ${toolCommand[0]} on the Berth host (tool port ${port})`);

    const agent = await this.agentCommand();
    let child: ChildProcess;
    try {
      child = this.spawnAgent(launch, agent, toolCommand, port, workspaceDir);
    } catch (error) {
      throw new RunnerError('START_FAILED', `cannot start the session agent: ${messageOf(error)}`);
    }
    const handle = await this.identify(child, launch.sessionId);
    const record: SessionRecord = { ...handle, labels: launch.labels, workspaceDir, startedAt: new Date().toISOString() };
    await writeFileAtomically(this.recordPath(launch.sessionId), JSON.stringify(record, null, 1));
    return encodeHandle(handle);
  }

  /** The bundle takes the agent's options directly; bin/berth.js wants the `agent` word first. */
  private async agentCommand(): Promise<string[]> {
    const bundle = await this.options.agentBundle?.().catch(() => undefined);
    return bundle ? [bundle] : [berthScript, 'agent'];
  }

  private spawnAgent(launch: SessionLaunch, agent: string[], toolCommand: string[], port: number, workspaceDir: string): ChildProcess {
    const agentArgs = [...agent, '--grace-period', String(launch.gracePeriodS), '--', ...toolCommand];
    // A file, not a pipe: the session must keep writing its output after this process is gone.
    const log = openSync(this.logPath(launch.sessionId), 'a');
    try {
      const child = spawn(process.execPath, agentArgs, {
        cwd: workspaceDir,
        env: { ...inheritedEnvironment(), ...launch.env, CONNECT_TOOL_PORT: String(port) },
        stdio: ['ignore', log, log],
        // Its own process group (and session): stop() signals the whole group, and Berth's own signals
        // (a Ctrl-C in its terminal, a restart) do not reach it.
        detached: true,
      });
      child.unref();
      return child;
    } finally {
      closeSync(log);
    }
  }

  /** The handle of a just-spawned agent; its exit, if this process sees it, is remembered for observe(). */
  private async identify(child: ChildProcess, sessionId: string): Promise<LocalHandle> {
    const pid = child.pid;
    if (pid === undefined) {
      const failure = await new Promise<Error>((resolve) => child.once('error', resolve));
      throw new RunnerError('START_FAILED', `cannot start the session agent (${process.execPath}): ${failure.message}`);
    }
    // Read at once, before the event loop can reap the child: even an agent that died already is still a zombie here.
    const stat = readProcessStat(pid);
    if (stat === undefined) throw new RunnerError('START_FAILED', `the session agent (pid ${pid}) vanished as it started`);
    const handle: LocalHandle = { sessionId, pid, startTime: stat.startTime };
    const ending: ChildEnding = { ended: new Promise((resolve) => child.once('exit', (exitCode, signal) => resolve((ending.known = { exitCode, signal })))) };
    this.endings.set(identityOf(handle), ending);
    child.on('error', () => undefined); // a failed kill() of an ended agent changes nothing
    return handle;
  }

  async observe(handle: string): Promise<SessionObservation> {
    const session = decodeHandle(handle);
    if (!session) return { state: 'missing', reason: 'not a session of the local runner' };
    const stat = readProcessStat(session.pid);
    if (stat && stat.startTime === session.startTime && isLive(stat)) return { state: 'running' };
    // Our own child, no longer live: Node reports its exit as soon as it reaps the zombie, so the code is moments away.
    const child = this.endings.get(identityOf(session));
    const ending = child && (child.known ?? (await Promise.race([child.ended, sleep(exitReportWaitMs, undefined, { ref: false })])));
    if (ending) return { state: 'exited', exitCode: exitCodeOf(ending), reason: describeEnding(ending) };
    // A zombie with the handle's start time is the session's agent, ended and not reaped (by a parent that is not this process).
    const zombie = stat !== undefined && stat.startTime === session.startTime;
    if (zombie || (await this.readRecord(session.sessionId))?.startTime === session.startTime) {
      return { state: 'exited', exitCode: null, reason: 'the session agent is no longer running' };
    }
    return { state: 'missing', reason: 'no such session on this host (removed, or never started by this runner)' };
  }

  stop(handle: string, gracePeriodS: number): Promise<void> {
    const session = decodeHandle(handle);
    if (!session) return Promise.resolve();
    const key = identityOf(session);
    const stopping = this.stopping.get(key);
    if (stopping) {
      // A second SIGTERM would make the agent kill its tool at once, so the stop under way is shared; a shorter
      // grace (a force stop) kills now, which ends that stop too.
      if (gracePeriodS < stopping.gracePeriodS) killNow(session);
      return stopping.done;
    }
    const done = this.stopSession(session, gracePeriodS).finally(() => this.stopping.delete(key));
    this.stopping.set(key, { done, gracePeriodS });
    return done;
  }

  /**
   * SIGTERM to the agent's group; the agent passes it to the tool's group and SIGKILLs the tool after the
   * launch's grace. This side SIGKILLs the tool's group after `gracePeriodS` (which may be shorter) and
   * the agent's after a margin, then whatever of the tool's groups outlived the agent.
   */
  private async stopSession(session: LocalHandle, gracePeriodS: number): Promise<void> {
    if (!isAlive(session)) return;
    // The tool runs in groups of its own (the agent starts it detached): note them while the agent is their parent.
    const toolGroups = new Set(descendantGroups(session.pid));
    const noteToolGroups = () => descendantGroups(session.pid).forEach((group) => toolGroups.add(group));
    signalGroup(session.pid, 'SIGTERM');
    const graceMs = Math.max(0, gracePeriodS) * 1000;
    if (!(await waitUntilEnded(session, graceMs))) {
      noteToolGroups();
      for (const group of toolGroups) signalGroup(group, 'SIGKILL');
      if (!(await waitUntilEnded(session, agentExitMarginS * 1000))) {
        noteToolGroups();
        signalGroup(session.pid, 'SIGKILL');
      }
    }
    if (!(await waitUntilEnded(session, killSettleMs))) throw new Error(`the session agent (pid ${session.pid}) does not end, even after SIGKILL`);
    // A tool's children may outlive it (and the agent, which waits only for the tool itself).
    await killGroups([...toolGroups]);
  }

  async remove(handle: string): Promise<void> {
    const session = decodeHandle(handle);
    if (!session) return;
    if (isAlive(session)) await this.stop(handle, 0);
    const record = await this.readRecord(session.sessionId);
    // A record of a newer run of the same session id is not this handle's to remove.
    if (record && record.startTime !== session.startTime) return;
    // An agent that died (killed by the OOM killer, say) left its tool behind, no longer its child.
    await killGroups(orphanGroupsOf(session));
    await rm(this.logPath(session.sessionId), { force: true });
    await rm(this.recordPath(session.sessionId), { force: true });
    this.endings.delete(identityOf(session));
  }

  async removeWorkspace(workspaceVolume: string): Promise<void> {
    if (!safeName.test(workspaceVolume)) return; // start() never made a directory of such a name
    try {
      await rm(this.workspacePath(workspaceVolume), { recursive: true, force: true });
    } catch (error) {
      throw new RunnerError('UNAVAILABLE', `could not remove the workspace directory ${this.workspacePath(workspaceVolume)}: ${messageOf(error)}`);
    }
  }

  async logs(handle: string): Promise<string> {
    const session = decodeHandle(handle);
    if (!session) throw new RunnerError('NOT_FOUND', 'not a session of the local runner');
    return readTail(this.logPath(session.sessionId), maxLogBytes);
  }

  async list(): Promise<LabelledSession[]> {
    let names: string[];
    try {
      names = await readdir(this.recordsDir);
    } catch {
      return [];
    }
    const sessions: LabelledSession[] = [];
    for (const name of names.filter((file) => file.endsWith('.json'))) {
      const record = await this.readRecord(name.slice(0, -'.json'.length));
      if (record && isAlive(record)) {
        sessions.push({ handle: encodeHandle(record), sessionId: record.sessionId });
      }
    }
    return sessions;
  }

  private recordPath(sessionId: string): string {
    return join(this.recordsDir, `${sessionId}.json`);
  }

  private logPath(sessionId: string): string {
    return join(this.logsDir, `${sessionId}.log`);
  }

  /** The session's working directory, which outlives its runs. */
  private workspacePath(workspaceVolume: string): string {
    return join(this.options.workDir, 'workspaces', workspaceVolume);
  }

  private async readRecord(sessionId: string): Promise<SessionRecord | undefined> {
    if (!safeName.test(sessionId)) return undefined;
    try {
      const text = await readFile(this.recordPath(sessionId), 'utf8');
      const handle = decodeHandle(text);
      return handle && handle.sessionId === sessionId ? { ...(JSON.parse(text) as SessionRecord), ...handle } : undefined;
    } catch {
      return undefined;
    }
  }
}

function encodeHandle(handle: LocalHandle): string {
  return JSON.stringify({ sessionId: handle.sessionId, pid: handle.pid, startTime: handle.startTime });
}

/** The handle's parts, or undefined for anything that is not a local runner's handle. */
function decodeHandle(handle: string): LocalHandle | undefined {
  let value: unknown;
  try {
    value = JSON.parse(handle);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { sessionId, pid, startTime } = value as Record<string, unknown>;
  if (typeof sessionId !== 'string' || !safeName.test(sessionId)) return undefined;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) return undefined;
  if (typeof startTime !== 'string' || !/^\d+$/.test(startTime)) return undefined;
  return { sessionId, pid, startTime };
}

function identityOf(handle: LocalHandle): string {
  return `${handle.pid}@${handle.startTime}`;
}

function fillPlaceholders(command: readonly string[], values: { port: string; prefix: string }): string[] {
  return command.map((part) => part.replaceAll('{port}', values.port).replaceAll('{prefix}', values.prefix));
}

function inheritedEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of inheritedVariables) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/** /proc/<pid>/stat, or undefined when there is no such process. */
function readProcessStat(pid: number): ProcessStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2, the command name, is in parentheses and may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, ppid, pgrp] = fields;
  const startTime = fields[19]; // field 22
  if (state === undefined || ppid === undefined || pgrp === undefined || startTime === undefined) return undefined;
  return { pid, state, ppid: Number(ppid), pgrp: Number(pgrp), startTime };
}

/** Zombies (ended, not yet reaped by their parent) and dead tasks run nothing any more. */
function isLive(stat: ProcessStat): boolean {
  return stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x';
}

/** Whether the session's agent itself still runs. */
function isAlive(handle: LocalHandle): boolean {
  const stat = readProcessStat(handle.pid);
  return stat !== undefined && stat.startTime === handle.startTime && isLive(stat);
}

function allProcesses(): ProcessStat[] {
  const processes: ProcessStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcessStat(Number(entry));
    if (stat) processes.push(stat);
  }
  return processes;
}

/** The process groups of `pid`'s descendants other than its own. */
function descendantGroups(pid: number): number[] {
  const processes = allProcesses();
  const ownGroup = processes.find((stat) => stat.pid === pid)?.pgrp;
  const descendants = new Set([pid]);
  // Parents usually come before their children in /proc order; repeat until nothing new turns up.
  for (let grew = true; grew; ) {
    grew = false;
    for (const stat of processes) {
      if (descendants.has(stat.ppid) && !descendants.has(stat.pid)) {
        descendants.add(stat.pid);
        grew = true;
      }
    }
  }
  const groups = new Set<number>();
  for (const stat of processes) if (descendants.has(stat.pid) && stat.pid !== pid && stat.pgrp !== ownGroup) groups.add(stat.pgrp);
  return [...groups];
}

/**
 * The process groups of what a session started and its agent no longer owns: processes younger than the agent
 * whose environment names the session (the agent passes `BERTH_SESSION_ID` on to the tool, and the tool to
 * its children).
 */
function orphanGroupsOf(session: LocalHandle): number[] {
  const marker = `BERTH_SESSION_ID=${session.sessionId}`;
  const ownGroup = readProcessStat(process.pid)?.pgrp;
  const groups = new Set<number>();
  for (const stat of allProcesses()) {
    if (!isLive(stat) || stat.pgrp === ownGroup || BigInt(stat.startTime) < BigInt(session.startTime)) continue;
    if (environmentOf(stat.pid).includes(marker)) groups.add(stat.pgrp);
  }
  return [...groups];
}

function environmentOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return []; // gone, or another user's
  }
}

/** SIGKILLs what is left in these groups and waits until none of it runs. */
async function killGroups(groups: readonly number[]): Promise<void> {
  if (groups.length === 0) return;
  const members = () => allProcesses().filter((stat) => groups.includes(stat.pgrp) && isLive(stat));
  const deadline = Date.now() + killSettleMs;
  while (members().length > 0) {
    for (const group of groups) signalGroup(group, 'SIGKILL');
    if (Date.now() > deadline) throw new Error(`processes of the session's tool (groups ${groups.join(', ')}) do not end, even after SIGKILL`);
    await sleep(pollMs);
  }
}

function signalGroup(group: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-group, signal);
  } catch {
    // The group is gone already.
  }
}

/** True once the agent no longer runs, false if it still does after `timeoutMs`. */
async function waitUntilEnded(handle: LocalHandle, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!isAlive(handle)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}

/** The shell's convention: the exit code, or 128 + the number of the signal. */
function exitCodeOf(ending: Ending): number | null {
  if (ending.exitCode !== null) return ending.exitCode;
  const number = ending.signal === null ? undefined : osConstants.signals[ending.signal];
  return number === undefined ? null : 128 + number;
}

function describeEnding(ending: Ending): string {
  if (ending.signal !== null) return `the session agent was ended by ${ending.signal}`;
  return `the session agent exited with status ${ending.exitCode}`;
}

async function readTail(path: string, maxBytes: number): Promise<string> {
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    return '';
  }
  try {
    const { size } = await file.stat();
    const length = Math.min(size, maxBytes);
    const buffer = Buffer.alloc(length);
    await file.read(buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } finally {
    await file.close();
  }
}

async function writeFileAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** SIGKILL to the tool's groups and the agent's, without waiting. */
function killNow(session: LocalHandle): void {
  if (!isAlive(session)) return;
  for (const group of descendantGroups(session.pid)) signalGroup(group, 'SIGKILL');
  signalGroup(session.pid, 'SIGKILL');
}
