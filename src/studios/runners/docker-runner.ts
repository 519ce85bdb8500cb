/**
 * The `docker` runner: one container per session through the Docker Engine API over a unix socket
 * (dockerd, or podman's API service, which speaks the same API).
 *
 * The session's image is run as it is, with the agent injected: the agent kit (agent-kit.ts) is bind-mounted
 * read-only at /opt/berth/agent and becomes the container's entrypoint, and the image's own entrypoint and
 * command become the tool the agent starts. The container runs under the engine's init (docker-init), so
 * the agent is not PID 1: signals reach it and orphans are reaped. `/workspace` is a named volume
 * (`berth-ws-<workspaceVolume>`) that outlives the container.
 */
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DockerEngine, EngineError, engineHeaderValue, type EngineMessage } from '../../builder/executors/docker-engine.ts';
import { ExecutorUnavailable } from '../../builder/executors/build-executor.ts';
import { pickFreePort } from '../../connect/agent/port-probe.ts';
import { splitRegistryHost } from '../../registry/names.ts';
import { agentKitMountPath, prepareAgentKit, type AgentKit } from './agent-kit.ts';
import { RunnerError, type LabelledSession, type Runner, type RunnerCheck, type SessionLaunch, type SessionObservation } from './runner.ts';

export interface DockerRunnerOptions {
  /** The engine's API socket: `/var/run/docker.sock`, or podman's (`podman system service`). */
  socketPath: string;
  /** The containers' network mode (default `host`: the agent dials Berth at the address it was given). */
  network?: string;
  /** Berth's data directory: the agent kit is prepared once in `<dataDir>/agent-kit`. */
  dataDir: string;
}

/** Labels every session container carries, whatever the launch says: `list()` relies on them. */
const managedLabel = 'berth.managed';
const sessionLabel = 'berth.session';
/**
 * The engine's own SIGKILL comes this long after the agent's: the agent kills the tool at the grace
 * period and still has to report `stopped` (with the tool's status) and exit.
 */
const agentExitMarginS = 5;
/** Logs kept for `logs()`: the end of the output, like a terminal's scrollback. */
const maxLogBytes = 4 * 1024 * 1024;
/** Docker's rule for container and volume names. */
const engineNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The Docker volume that holds a workspace: it outlives the session's containers. */
function workspaceVolumeName(workspaceVolume: string): string {
  return `berth-ws-${workspaceVolume}`;
}

/** What `GET /images/{name}/json` answers that the runner reads. */
export interface ImageInspect {
  Id: string;
  Config?: { Entrypoint?: string[] | null; Cmd?: string[] | null };
}

interface ContainerInspect {
  Id: string;
  Config?: { StopTimeout?: number | null };
  State?: { Status?: string; Running?: boolean; ExitCode?: number; OOMKilled?: boolean; Error?: string };
}

export class DockerRunner implements Runner {
  readonly platform = 'docker' as const;
  private readonly engine: DockerEngine;
  private readonly network: string;

  constructor(private readonly options: DockerRunnerOptions) {
    this.engine = new DockerEngine(options.socketPath);
    this.network = options.network ?? 'host';
  }

  async check(): Promise<RunnerCheck> {
    try {
      await this.engine.ping();
      const version = await this.engine.json<{ Os?: string; Arch?: string }>({ method: 'GET', path: '/version', signal: AbortSignal.timeout(10_000) });
      const mismatch = platformMismatch(version.body?.Os, version.body?.Arch);
      if (mismatch) return { available: false, reason: mismatch };
    } catch (error) {
      return { available: false, reason: this.unreachable(error) };
    }
    try {
      await this.agentKit();
    } catch (error) {
      return { available: false, reason: `cannot prepare the session agent for containers: ${messageOf(error)}` };
    }
    return { available: true };
  }

  async start(launch: SessionLaunch, progress: (message: string) => void): Promise<string> {
    const image = launch.image;
    if (image === null) throw new RunnerError('START_FAILED', 'the docker runner needs an image to run (this session has only a host command)');
    const containerName = `berth-session-${launch.sessionId}`;
    const volumeName = workspaceVolumeName(launch.workspaceVolume);
    for (const name of [containerName, volumeName]) {
      if (!engineNamePattern.test(name)) throw new RunnerError('START_FAILED', `"${name}" cannot name a Docker container or volume`);
    }
    const kit = await this.agentKit().catch((error: unknown) => {
      throw new RunnerError('START_FAILED', `cannot prepare the session agent for containers: ${messageOf(error)}`);
    });
    return this.engineCall(async () => {
      const inspected = await this.ensureImage(image, launch.pullCredentials, progress);
      const toolCommand = toolCommandOf(inspected);
      if (toolCommand.length === 0) throw new RunnerError('START_FAILED', `the image ${image} has no ENTRYPOINT or CMD: nothing to run as the tool`);
      await this.ensureVolume(volumeName, launch, progress);
      progress(`Creating container ${containerName}`);
      const body = await this.containerSpec(launch, image, kit, toolCommand, volumeName);
      const id = await this.createContainer(containerName, body);
      progress(`Starting container ${id.slice(0, 12)}`);
      const started = await this.engine.json({ method: 'POST', path: `/containers/${id}/start` });
      if (started.status !== 204 && started.status !== 304) {
        await this.removeQuietly(id);
        throw new RunnerError('START_FAILED', `the Docker engine could not start the session's container: ${answerMessage(started)}`);
      }
      return id;
    });
  }

  async observe(handle: string): Promise<SessionObservation> {
    if (!isContainerId(handle)) return { state: 'missing', reason: `${JSON.stringify(handle.slice(0, 80))} is not a container id` };
    return this.engineCall(() => this.observeContainer(handle));
  }

  async stop(handle: string, gracePeriodS: number): Promise<void> {
    if (!isContainerId(handle)) return;
    await this.engineCall(async () => {
      const inspected = await this.engine.json<ContainerInspect>({ method: 'GET', path: `/containers/${handle}/json` });
      if (inspected.status === 404) return;
      // The engine sends the container's stop signal (SIGTERM) to docker-init, which passes it to the agent;
      // it SIGKILLs whatever is left after `t` seconds and answers once the container has stopped.
      const timeoutS = engineStopTimeoutS(gracePeriodS, inspected.body.Config?.StopTimeout);
      const stopped = await this.engine.json({ method: 'POST', path: `/containers/${handle}/stop?t=${timeoutS}` });
      if (stopped.status === 404) return;
      if (stopped.status !== 204 && stopped.status !== 304) throw new RunnerError('UNAVAILABLE', `stopping container ${shortId(handle)}: ${answerMessage(stopped)}`);
      const waited = await this.engine.json({ method: 'POST', path: `/containers/${handle}/wait?condition=not-running` });
      if (waited.status !== 200 && waited.status !== 404) throw new RunnerError('UNAVAILABLE', `waiting for container ${shortId(handle)} to stop: ${answerMessage(waited)}`);
    });
  }

  async remove(handle: string): Promise<void> {
    if (!isContainerId(handle)) return;
    await this.engineCall(() => this.removeContainer(handle));
  }

  async removeWorkspace(workspaceVolume: string): Promise<void> {
    const volumeName = workspaceVolumeName(workspaceVolume);
    if (!engineNamePattern.test(volumeName)) return; // no volume can have such a name
    await this.engineCall(async () => {
      const removed = await this.engine.json({ method: 'DELETE', path: `/volumes/${volumeName}` });
      if (removed.status === 204 || removed.status === 404) return;
      throw new RunnerError('UNAVAILABLE', `could not remove the workspace volume ${volumeName}: ${answerMessage(removed)}`);
    });
  }

  async logs(handle: string): Promise<string> {
    if (!isContainerId(handle)) throw new RunnerError('NOT_FOUND', `${JSON.stringify(handle.slice(0, 80))} is not a container id`);
    return this.engineCall(async () => {
      const response = await this.engine.response({ method: 'GET', path: `/containers/${handle}/logs?stdout=1&stderr=1` });
      if (response.statusCode === 404) {
        response.resume();
        throw new RunnerError('NOT_FOUND', `container ${shortId(handle)} no longer exists: its output is gone`);
      }
      const bytes = await readTail(response);
      if (response.statusCode !== 200) throw new RunnerError('UNAVAILABLE', `reading the logs of container ${shortId(handle)}: ${bytes.toString('utf8').trim()}`);
      return demultiplex(bytes).toString('utf8');
    });
  }

  async list(): Promise<LabelledSession[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: [`${managedLabel}=true`] }));
    const listed = await this.engineCall(() =>
      this.engine.json<Array<{ Id: string; Labels?: Record<string, string> }>>({ method: 'GET', path: `/containers/json?all=1&filters=${filters}` }),
    );
    if (listed.status !== 200) throw new RunnerError('UNAVAILABLE', `listing containers: ${answerMessage(listed)}`);
    return listed.body.flatMap((container) => {
      const sessionId = container.Labels?.[sessionLabel];
      return sessionId ? [{ handle: container.Id, sessionId }] : [];
    });
  }

  private agentKit(): Promise<AgentKit> {
    return prepareAgentKit(join(this.options.dataDir, 'agent-kit'));
  }

  /** The image's configuration, pulling the image first unless the engine has it. */
  private async ensureImage(image: string, credentials: SessionLaunch['pullCredentials'], progress: (message: string) => void): Promise<ImageInspect> {
    const local = await this.inspectImage(image);
    if (local) return local;
    progress(`Pulling ${image}`);
    await this.pull(image, credentials, progress);
    const pulled = await this.inspectImage(image);
    if (!pulled) throw new RunnerError('IMAGE_PULL_FAILED', `could not pull the image ${image}: the engine reported success but does not have it`);
    return pulled;
  }

  private async inspectImage(image: string): Promise<ImageInspect | undefined> {
    const inspected = await this.engine.json<ImageInspect>({ method: 'GET', path: `/images/${image}/json` });
    if (inspected.status === 200) return inspected.body;
    if (inspected.status === 404) return undefined;
    throw new RunnerError('IMAGE_PULL_FAILED', `could not inspect the image ${image}: ${answerMessage(inspected)}`);
  }

  private async pull(image: string, credentials: SessionLaunch['pullCredentials'], progress: (message: string) => void): Promise<void> {
    const { name, tagOrDigest } = splitImageReference(image);
    const headers: Record<string, string> = {};
    if (credentials) {
      const serveraddress = splitRegistryHost(name).registry ?? 'docker.io';
      headers['X-Registry-Auth'] = engineHeaderValue({ username: credentials.username, password: credentials.password, serveraddress });
    }
    let failure: string | undefined;
    try {
      await this.engine.stream(
        { method: 'POST', path: `/images/create?${new URLSearchParams({ fromImage: name, tag: tagOrDigest })}`, headers },
        (message) => {
          if (message.error || message.errorDetail?.message) failure ??= message.errorDetail?.message ?? message.error;
          else {
            const line = pullProgressLine(message);
            if (line) progress(line);
          }
        },
      );
    } catch (error) {
      if (error instanceof EngineError) failure = error.message;
      else throw error;
    }
    if (failure !== undefined) throw new RunnerError('IMAGE_PULL_FAILED', `could not pull the image ${image}: ${failure}`);
  }

  private async ensureVolume(volumeName: string, launch: SessionLaunch, progress: (message: string) => void): Promise<void> {
    const existing = await this.engine.json({ method: 'GET', path: `/volumes/${volumeName}` });
    if (existing.status === 200) return;
    progress(`Creating volume ${volumeName}`);
    const labels = { [managedLabel]: 'true', ...(launch.labels['berth.workspace'] ? { 'berth.workspace': launch.labels['berth.workspace'] } : {}) };
    const created = await this.engine.json({
      method: 'POST',
      path: '/volumes/create',
      headers: { 'Content-Type': 'application/json' },
      body: jsonBody({ Name: volumeName, Labels: labels }),
    });
    if (created.status !== 201) throw new RunnerError('START_FAILED', `could not create the workspace volume ${volumeName}: ${answerMessage(created)}`);
  }

  private async containerSpec(launch: SessionLaunch, image: string, kit: AgentKit, toolCommand: string[], volumeName: string): Promise<object> {
    const toolPort = await pickFreePort();
    const env = { ...launch.env, CONNECT_TOOL_PORT: String(toolPort) };
    const { cpu, memoryMiB, gpu } = launch.resources;
    return {
      Image: image,
      // The agent is the entrypoint; the image's entrypoint and command, after its `--`, are the tool.
      Entrypoint: kit.agentCommand(launch.gracePeriodS),
      Cmd: toolCommand,
      Env: Object.entries(env).map(([key, value]) => `${key}=${value}`),
      Labels: { ...launch.labels, [managedLabel]: 'true', [sessionLabel]: launch.sessionId },
      // The agent expects SIGTERM, whatever STOPSIGNAL the image declares for its own command.
      StopSignal: 'SIGTERM',
      StopTimeout: engineStopTimeoutS(launch.gracePeriodS),
      HostConfig: {
        NetworkMode: this.network,
        Init: true,
        Mounts: [
          { Type: 'bind', Source: kit.hostDir, Target: agentKitMountPath, ReadOnly: true },
          { Type: 'volume', Source: volumeName, Target: '/workspace' },
        ],
        ...(cpu > 0 ? { NanoCpus: Math.round(cpu * 1e9) } : {}),
        ...(memoryMiB > 0 ? { Memory: Math.round(memoryMiB * 1024 * 1024) } : {}),
        ...(gpu > 0 ? { DeviceRequests: [{ Driver: 'nvidia', Count: gpu, Capabilities: [['gpu']] }] } : {}),
      },
    };
  }

  /**
   * Creates the container under its session's name. A container left with that name by an earlier run of
   * the session is removed first when it has stopped; one still running is an error, never a second agent.
   */
  private async createContainer(containerName: string, body: object): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const created = await this.engine.json<{ Id?: string }>({
        method: 'POST',
        path: `/containers/create?name=${containerName}`,
        headers: { 'Content-Type': 'application/json' },
        body: jsonBody(body),
      });
      if (created.status === 201 && created.body.Id) return created.body.Id;
      if (created.status !== 409 || attempt > 0) {
        throw new RunnerError('START_FAILED', `the Docker engine could not create the session's container: ${answerMessage(created)}`);
      }
      const leftover = await this.observeContainer(containerName);
      if (leftover.state === 'running') throw new RunnerError('START_FAILED', `a container named ${containerName} is already running this session`);
      await this.removeQuietly(containerName);
    }
  }

  /** The container's state; `container` is its id or its name (never a prefix: callers pass whole ones). */
  private async observeContainer(container: string): Promise<SessionObservation> {
    const inspected = await this.engine.json<ContainerInspect>({ method: 'GET', path: `/containers/${container}/json` });
    if (inspected.status === 404) return { state: 'missing', reason: `container ${shortId(container)} no longer exists` };
    if (inspected.status !== 200) throw new RunnerError('UNAVAILABLE', `inspecting container ${shortId(container)}: ${answerMessage(inspected)}`);
    const state = inspected.body.State ?? {};
    if (state.Running) return { state: 'running' };
    if (state.Status === 'created') return { state: 'exited', exitCode: null, reason: state.Error || 'the container was created but never started' };
    const exitCode = typeof state.ExitCode === 'number' ? state.ExitCode : null;
    const details = [state.OOMKilled ? 'out of memory' : '', state.Error ?? ''].filter(Boolean).join('; ');
    return { state: 'exited', exitCode, reason: `the container exited with status ${exitCode ?? 'unknown'}${details ? ` (${details})` : ''}` };
  }

  private async removeContainer(container: string): Promise<void> {
    // v=1 frees anonymous volumes the image declares; the named workspace volume is never removed with it.
    const removed = await this.engine.json({ method: 'DELETE', path: `/containers/${container}?force=1&v=1` });
    // 409: the engine is already removing it.
    if (![204, 404, 409].includes(removed.status)) throw new RunnerError('UNAVAILABLE', `removing container ${shortId(container)}: ${answerMessage(removed)}`);
  }

  private async removeQuietly(container: string): Promise<void> {
    await this.removeContainer(container).catch(() => undefined);
  }

  /** Runs engine calls; an engine that cannot be reached becomes RunnerError('UNAVAILABLE'). */
  private async engineCall<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ExecutorUnavailable) throw new RunnerError('UNAVAILABLE', this.unreachable(error));
      throw error;
    }
  }

  private unreachable(error: unknown): string {
    const socket = this.options.socketPath;
    // DockerEngine's messages name the socket already; say it once.
    const detail = messageOf(error).replace(`cannot reach the Docker engine at ${socket}: `, '');
    return `Docker daemon unreachable at ${socket}: ${detail}`;
  }
}

/**
 * The tool's command from the image: its entrypoint then its command. Images made for Seqera's
 * connect-client have `ENTRYPOINT ["…/connect-client", "--entrypoint"]`: that wrapper is dropped (the
 * injected agent takes its place) and the image's CMD is the tool; so is Berth's own standalone agent
 * (`berth-agent --entrypoint`, or `--`) in an image that carries it.
 */
export function toolCommandOf(image: ImageInspect): string[] {
  let entrypoint = image.Config?.Entrypoint ?? [];
  const wrapper = entrypoint[0]?.split('/').pop();
  if (wrapper === 'connect-client' || wrapper === 'berth-agent') {
    entrypoint = entrypoint.slice(1);
    if (entrypoint[0] === '--entrypoint' || entrypoint[0] === '--') entrypoint = entrypoint.slice(1);
  }
  return [...entrypoint, ...(image.Config?.Cmd ?? [])];
}

/**
 * When the engine SIGKILLs a stopping container. The agent kills the tool itself when its own grace period
 * (the launch's) is over, then reports `stopped` with the tool's status: the engine waits a few seconds
 * more for that. A stop asking for a shorter grace than the agent's gets exactly that: only the engine's
 * SIGKILL comes in time then. `containerStopTimeoutS` is what the container was created with.
 */
function engineStopTimeoutS(gracePeriodS: number, containerStopTimeoutS?: number | null): number {
  const grace = Math.max(0, Math.ceil(gracePeriodS));
  if (typeof containerStopTimeoutS === 'number' && grace < containerStopTimeoutS - agentExitMarginS) return grace;
  return grace + agentExitMarginS;
}

/**
 * `fromImage` and `tag` for `POST /images/create`: the engine takes a digest in `tag` too. Without a tag
 * or digest the engine would pull every tag of the repository, so `latest` is named.
 */
export function splitImageReference(image: string): { name: string; tagOrDigest: string } {
  const at = image.indexOf('@');
  const named = at >= 0 ? image.slice(0, at) : image;
  const colon = named.indexOf(':', named.lastIndexOf('/') + 1);
  const name = colon >= 0 ? named.slice(0, colon) : named;
  if (at >= 0) return { name, tagOrDigest: image.slice(at + 1) };
  return { name, tagOrDigest: colon >= 0 ? named.slice(colon + 1) : 'latest' };
}

/** One line for each pull step worth reading; the byte-count ticks of downloads and extractions are left out. */
function pullProgressLine(message: EngineMessage): string | undefined {
  if (!message.status || message.progress) return undefined;
  if (message.status === 'Waiting') return undefined;
  return message.id ? `${message.id}: ${message.status}` : message.status;
}

/**
 * Container logs without a TTY come as frames: 8 bytes (stream 0/1/2, three zero bytes, big-endian
 * length) then the payload. Anything that does not look like a frame header is taken as raw output.
 */
export function demultiplex(bytes: Buffer): Buffer {
  const payloads: Buffer[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const isHeader = offset + 8 <= bytes.length && bytes[offset]! <= 2 && bytes[offset + 1] === 0 && bytes[offset + 2] === 0 && bytes[offset + 3] === 0;
    if (!isHeader) {
      payloads.push(bytes.subarray(offset));
      break;
    }
    const length = bytes.readUInt32BE(offset + 4);
    payloads.push(bytes.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  return Buffer.concat(payloads);
}

/**
 * The answer's bytes, keeping whole frames from the end when it exceeds `maxLogBytes`: the tail is what
 * someone reading a session's logs wants.
 */
async function readTail(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of response) {
    chunks.push(chunk as Buffer);
    total += (chunk as Buffer).length;
  }
  const bytes = Buffer.concat(chunks, total);
  if (bytes.length <= maxLogBytes) return bytes;
  return bytes.subarray(frameBoundaryFrom(bytes, bytes.length - maxLogBytes));
}

/** The first frame header at or after `from` (frames are walked from the start; they carry their lengths). */
function frameBoundaryFrom(bytes: Buffer, from: number): number {
  let offset = 0;
  while (offset < from && offset + 8 <= bytes.length) offset += 8 + bytes.readUInt32BE(offset + 4);
  return Math.min(offset, bytes.length);
}

/** Why this engine cannot run the agent kit (this host's node), or undefined when it can. */
function platformMismatch(os: string | undefined, arch: string | undefined): string | undefined {
  if (os !== undefined && os !== 'linux') return `the Docker engine runs ${os} containers; sessions need Linux containers`;
  const hostArch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x' } as Record<string, string>)[process.arch] ?? process.arch;
  if (arch !== undefined && arch !== hostArch) {
    return `the Docker engine runs ${arch} containers, but the session agent is this host's ${hostArch} node: the engine must run on the Berth host's architecture`;
  }
  return undefined;
}

function jsonBody(value: unknown): Readable {
  return Readable.from([Buffer.from(JSON.stringify(value))]);
}

function answerMessage(answer: { status: number; body: unknown }): string {
  const body = answer.body as { message?: unknown } | string | undefined;
  const text = typeof body === 'object' && body !== null && typeof body.message === 'string' ? body.message : typeof body === 'string' ? body.trim() : '';
  return text ? `${text} (${answer.status})` : `status ${answer.status}`;
}

/**
 * Handles are the full ids `start` returned. Anything else is refused before it reaches the engine, which
 * would take a name or an id prefix and could answer for another container.
 */
function isContainerId(handle: string): boolean {
  return /^[0-9a-f]{64}$/.test(handle);
}

function shortId(container: string): string {
  return isContainerId(container) ? container.slice(0, 12) : container;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
