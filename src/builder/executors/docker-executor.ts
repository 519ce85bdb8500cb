import { setTimeout as sleep } from 'node:timers/promises';
import {
  FAILURE_TAIL_LINES,
  formatPlatform,
  type BuildExecutor,
  type BuildJob,
  type BuildResult,
  type RegistryLogin,
} from './build-executor.ts';
import { BuildOutput } from './build-output.ts';
import { CONTEXT_DOCKERFILE, contextTar } from './docker-context.ts';
import { DockerEngine, EngineError, engineHeaderValue, type EngineMessage } from './docker-engine.ts';
import { parseStepHeader } from './failure-report.ts';
import { checkLogins, loginFor, parsePushTarget, repositoryReference, type PushTarget } from './push-target.ts';

export interface DockerExecutorOptions {
  /** The Docker Engine API socket, e.g. `/var/run/docker.sock`. */
  socketPath: string;
  /** After an abort, how long the engine may take to remove the step's container before it is removed by force; default 30 s. */
  stopGraceMs?: number;
  /** Lines of output kept in a failure report; default FAILURE_TAIL_LINES. */
  failureTailLines?: number;
}

/** Docker Hub's key in registry auth maps, for historical reasons. */
const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/**
 * Builds through the Docker Engine API (classic builder, `version=1`) and pushes with the engine.
 *
 * - The context goes up as a tar stream with the Dockerfile inside under a reserved name (see docker-context.ts).
 * - `pull=1` fetches every base image again (its layers are reused), so a build can never use a private base
 *   it has no login for because an earlier build pulled it; `nocache=1` keeps one build's intermediate images
 *   out of another's; `forcerm=1` removes each step's container even when the step fails.
 * - Credentials travel only in the X-Registry-Config (base pulls) and X-Registry-Auth (push) headers.
 * - The image is built untagged and tagged with the target just before the push (two builds pushing one
 *   target at the same moment could swap images: the service must not run two builds of one target at once).
 *   Afterwards the tag, the image and every intermediate image the build committed are deleted; bases stay.
 * - Abort closes the build request, which makes the engine stop the build and kill the step's container; the
 *   executor then waits for that container to go, and cleans up as after any build. One narrow race remains:
 *   an abort in the instant after the first step past a FROM committed its image, before the executor read
 *   about it, leaves that one untagged image behind (its parent is a shared base, so it cannot be told apart
 *   from another build's).
 * - The engine decides which registries it reaches over plain http: loopback ones by default, others only
 *   when its `insecure-registries` setting lists them. A login's `insecure` flag cannot change that.
 */
export class DockerExecutor implements BuildExecutor {
  readonly name = 'docker';
  private readonly engine: DockerEngine;
  private readonly stopGraceMs: number;
  private readonly failureTailLines: number;

  constructor(options: DockerExecutorOptions) {
    this.engine = new DockerEngine(options.socketPath);
    this.stopGraceMs = options.stopGraceMs ?? 30_000;
    this.failureTailLines = options.failureTailLines ?? FAILURE_TAIL_LINES;
  }

  check(): Promise<void> {
    return this.engine.ping();
  }

  async build(job: BuildJob, log: (chunk: string) => void, signal: AbortSignal): Promise<BuildResult> {
    signal.throwIfAborted();
    const target = parsePushTarget(job.target);
    checkLogins(job.logins);
    const trace = new BuildTrace();
    const output = new BuildOutput(log, job.logins, { tailLines: this.failureTailLines, onLine: (line) => trace.line(line) });
    let taggedAs: string | undefined;
    try {
      const imageId = await this.runBuild(job, output, trace, signal);
      output.nextPhase();
      taggedAs = await this.tag(imageId, target);
      return { digest: await this.push(target, job.logins, output, signal) };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof EngineError) throw output.failure({ message: error.message, fallback: error.message });
      throw error;
    } finally {
      await this.removeLeftovers(trace, taggedAs);
    }
  }

  /** Runs the build and returns the id of the image it made. */
  private async runBuild(job: BuildJob, output: BuildOutput, trace: BuildTrace, signal: AbortSignal): Promise<string> {
    const query = new URLSearchParams({
      version: '1',
      dockerfile: CONTEXT_DOCKERFILE,
      pull: '1',
      nocache: '1',
      rm: '1',
      forcerm: '1',
      platform: formatPlatform(job.platform),
    });
    let imageId: string | undefined;
    const failure = await this.follow(
      { method: 'POST', path: `/build?${query}`, headers: buildHeaders(job.logins), body: contextTar(job.contextDir, job.dockerfile), signal },
      output,
      (message) => {
        if (message.aux?.ID) imageId = trace.built(message.aux.ID);
      },
    );
    if (failure) throw output.failure({ message: failure.message, exitCode: failure.code, fallback: 'the build failed' });
    output.end();
    if (!imageId) throw output.failure({ fallback: 'the engine finished the build without naming the image it built' });
    return imageId;
  }

  private async tag(imageId: string, target: PushTarget): Promise<string> {
    const query = new URLSearchParams({ repo: repositoryReference(target), tag: target.tag });
    const tagged = await this.engine.json<{ message?: string }>({ method: 'POST', path: `/images/${imageId}/tag?${query}` });
    if (tagged.status !== 201) throw new EngineError(tagged.status, tagged.body?.message ?? `tagging the image failed with ${tagged.status}`);
    return `${repositoryReference(target)}:${target.tag}`;
  }

  /** Pushes the tagged image; returns the manifest digest the engine reports. */
  private async push(target: PushTarget, logins: readonly RegistryLogin[], output: BuildOutput, signal: AbortSignal): Promise<string> {
    const login = loginFor(logins, target.registry);
    const auth = login ? { username: login.username, password: login.password, serveraddress: authKey(login.registry) } : {};
    let digest: string | undefined;
    const failure = await this.follow(
      {
        method: 'POST',
        path: `/images/${repositoryReference(target)}/push?${new URLSearchParams({ tag: target.tag })}`,
        headers: { 'X-Registry-Auth': engineHeaderValue(auth) },
        signal,
      },
      output,
      (message) => {
        if (message.aux?.Digest) digest = message.aux.Digest;
      },
    );
    if (failure) throw output.failure({ message: failure.message, fallback: 'the push failed' });
    output.end();
    if (!digest) throw output.failure({ fallback: 'the engine finished the push without reporting a digest' });
    return digest;
  }

  /**
   * Follows a progress stream into the log: build output as it is, pull and push progress as one line per
   * state change (the byte counters are left out). Resolves with the engine's error, if it reported one.
   */
  private async follow(call: Parameters<DockerEngine['stream']>[0], output: BuildOutput, onMessage: (message: EngineMessage) => void): Promise<{ message: string; code?: number } | undefined> {
    let failure: { message: string; code?: number } | undefined;
    await this.engine.stream(call, (message) => {
      if (message.stream !== undefined) output.write(message.stream);
      else if (message.status !== undefined && message.progress === undefined) output.write(`${message.id ? `${message.id}: ` : ''}${message.status}\n`);
      if (message.errorDetail || message.error !== undefined) {
        const text = message.errorDetail?.message ?? message.error ?? 'unknown error';
        output.end();
        output.write(`${text}\n`);
        failure = { message: text, ...(message.errorDetail?.code ? { code: message.errorDetail.code } : {}) };
      }
      onMessage(message);
    });
    return failure;
  }

  /**
   * Deletes what the build made: waits for (then forces out) a step container an abort interrupted, removes
   * the push tag, then the build's images, children first, including any committed after the stream was
   * closed on top of one the executor saw. Errors are ignored: cleaning up must not hide the build's outcome.
   */
  private async removeLeftovers(trace: BuildTrace, taggedAs: string | undefined): Promise<void> {
    try {
      if (trace.container) await this.removeContainer(trace.container);
      if (taggedAs) await this.engine.json({ method: 'DELETE', path: `/images/${taggedAs}` });
      if (trace.images.length === 0) return;
      const listed = await this.engine.json<Array<{ Id: string; ParentId: string }>>({ method: 'GET', path: '/images/json?all=1' });
      const ours = withDescendants(trace.images, Array.isArray(listed.body) ? listed.body : []);
      for (const id of ours.reverse()) await this.engine.json({ method: 'DELETE', path: `/images/${id}?force=1` });
    } catch {
      // the engine went away; nothing more can be done from here
    }
  }

  private async removeContainer(id: string): Promise<void> {
    const deadline = Date.now() + this.stopGraceMs;
    while (Date.now() < deadline) {
      const inspected = await this.engine.json({ method: 'GET', path: `/containers/${id}/json` });
      if (inspected.status === 404) return;
      await sleep(200);
    }
    await this.engine.json({ method: 'DELETE', path: `/containers/${id}?force=1&v=1` });
  }
}

/**
 * What the build made, read from the classic builder's output. Each step prints ` ---> Running in <id>` before
 * its container starts, and ` ---> <id>` for the image it committed as its very last line; a RUN step's own
 * output comes in between and may imitate both. So only a step's first container line counts, and only a
 * completed step's last image line, where nothing of the build's can follow it; an imitation there would be
 * overridden. A FROM step names its base, which is not the build's.
 */
class BuildTrace {
  /** Image ids of the completed steps, oldest first. */
  readonly images: string[] = [];
  /** The container of the latest step that ran one. */
  container: string | undefined;
  private step: { isFrom: boolean; image?: string; container?: string } | undefined;

  line(line: string): void {
    const header = parseStepHeader(line);
    if (header) {
      this.completeStep();
      this.step = { isFrom: /^FROM\s/i.test(header.instruction) };
      return;
    }
    if (!this.step) return;
    const running = /^ ---> Running in ([0-9a-f]{12,64})$/.exec(line)?.[1];
    if (running) {
      if (this.step.container === undefined) this.step.container = this.container = running;
      return;
    }
    const image = /^ ---> ([0-9a-f]{12,64})$/.exec(line)?.[1];
    if (image) this.step.image = image;
  }

  /** The engine's `aux.ID` (`sha256:…`): the last step is complete and made that image. */
  built(id: string): string {
    if (this.step) this.step.image = id.replace(/^sha256:/, '');
    this.completeStep();
    return id;
  }

  private completeStep(): void {
    const image = this.step?.isFrom === false ? this.step.image : undefined;
    if (image && !this.images.some((seen) => sameImage(seen, image))) this.images.push(image);
    this.step = undefined;
  }
}

/** `ids` followed by the engine's images that descend from any of them, each after its parent. */
function withDescendants(ids: readonly string[], all: ReadonlyArray<{ Id: string; ParentId: string }>): string[] {
  const result = [...ids];
  for (let index = 0; index < result.length; index++) {
    const parent = result[index]!;
    for (const image of all) {
      const id = image.Id.replace(/^sha256:/, '');
      if (sameImage(parent, image.ParentId.replace(/^sha256:/, '')) && !result.some((known) => sameImage(known, id))) result.push(id);
    }
  }
  return result;
}

/** Short (12 hex) and full image ids name the same image when one starts with the other. */
function sameImage(a: string, b: string): boolean {
  return a !== '' && b !== '' && (a.startsWith(b) || b.startsWith(a));
}

function buildHeaders(logins: readonly RegistryLogin[]): Record<string, string> {
  const config = Object.fromEntries(
    logins.map((login) => [authKey(login.registry), { username: login.username, password: login.password, serveraddress: authKey(login.registry) }]),
  );
  return { 'Content-Type': 'application/x-tar', 'X-Registry-Config': engineHeaderValue(config) };
}

function authKey(registry: string): string {
  return registry === 'docker.io' ? DOCKER_HUB_AUTH_KEY : registry;
}
