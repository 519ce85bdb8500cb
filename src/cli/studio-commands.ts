import { InvalidArgumentError, type Command } from 'commander';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AugmentError } from '../builder/augment/augment-errors.ts';
import { envPair } from '../builder/augment/image-config.ts';
import { isActive, studioStatuses, type StudioStatus } from '../studios/sessions/session-status.ts';
import { clientFor, integer } from './arguments.ts';
import { CliError, type ApiClient } from './client.ts';
import { printTable } from './output.ts';

/** The API refuses longer conda environments; the CLI says so before sending anything. */
export const maxCondaEnvironmentChars = 2048;

interface StatusInfo {
  status: StudioStatus;
  message: string | null;
  lastUpdate: string | number | null;
  stopReason: string | null;
}

interface ProgressEntry {
  step: string;
  status: string;
  message: string | null;
  at: string | number;
}

interface BuildErrorReport {
  message: string;
  step?: string;
  stepNumber?: number;
  exitCode?: number;
  lastLines?: string[];
}

/** A studio as /api/studios answers it (the fields the CLI reads). */
interface StudioView {
  sessionId: string;
  workspaceId: string;
  name: string;
  studioUrl: string;
  template: { repository: string; tool: string } | null;
  image: string | null;
  statusInfo: StatusInfo;
  progress?: ProgressEntry[];
  buildId?: string | null;
  errorReport?: BuildErrorReport | null;
}

export interface AddOptions {
  name: string;
  template?: string;
  image?: string;
  repository?: string;
  revision?: string;
  workspace?: string;
  computeEnv?: string;
  condaFile?: string;
  cpu?: number;
  memory?: number;
  gpu?: number;
  env?: string[];
  lifespan?: number;
  private?: boolean;
  label?: string[];
  description?: string;
  start?: boolean;
  json?: boolean;
}

type WorkspaceOption = { workspace?: string };

/** `berth studios …`: studios and their sessions over `/api/studios`. Studios are named by name or session id. */
export function studioCommands(studios: Command): void {
  const inWorkspace = (command: Command) => command.option('--workspace <workspace>', 'the workspace, by name or id (default: your personal one)');

  inWorkspace(studios.command('list'))
    .description('studios of a workspace')
    .option('--status <status>', `only studios in this status: ${studioStatuses.join(', ')}`, statusArgument)
    .option('--search <text>', 'only studios whose name contains this')
    .option('--user <user>', 'only studios of this user')
    .option('--json', 'print JSON')
    .action(async (options: WorkspaceOption & { status?: StudioStatus; search?: string; user?: string; json?: boolean }, command: Command) => {
      const query = queryOf({ workspaceId: options.workspace, status: options.status, search: options.search, user: options.user });
      const { studios: found } = await clientFor(command).call<{ studios: StudioView[] }>('GET', `/api/studios?${query}`);
      if (options.json) return console.log(JSON.stringify(found, null, 2));
      printTable(['NAME', 'SESSION', 'STATUS', 'TOOL', 'URL'], found.map((s) => [s.name, s.sessionId, s.statusInfo.status, toolOf(s), s.studioUrl]));
    });

  inWorkspace(studios.command('add'))
    .description('define a studio (a template, an image or a git repository) and, with --start, start it')
    .requiredOption('--name <name>', 'its name, unique in the workspace')
    .option('--template <key>', 'a template: jupyter, vscode, rstudio, xpra or one configured here')
    .option('--image <image>', 'any image with a tool (instead of --template)')
    .option('--repository <url>', 'a git repository with .seqera/studio-config.yaml')
    .option('--revision <revision>', 'branch, tag or commit of --repository')
    .option('--compute-env <env>', 'where it runs: a compute environment by name or id (default: the workspace\'s first available one)')
    .option('--conda-file <file>', `a conda environment file (at most ${maxCondaEnvironmentChars} characters) built into its image`)
    .option('--cpu <n>', 'CPUs (fractions allowed)', positiveNumber)
    .option('--memory <MiB>', 'memory limit, MiB', positiveInteger)
    .option('--gpu <n>', 'GPUs', integer)
    .option('--env <KEY=VALUE...>', 'environment variables of the tool (repeatable)')
    .option('--lifespan <hours>', 'stop the session after this long (0: never)', nonNegativeNumber)
    .option('--private', 'only you may open it')
    .option('--no-private', 'the whole workspace may open it (when the workspace makes studios private by default)')
    .option('--label <label...>', 'labels (repeatable)')
    .option('--description <text>', 'what it is for')
    .option('--start', 'start it right away')
    .option('--json', 'print the studio as JSON')
    .action(async (options: AddOptions, command: Command) => {
      const condaEnvironment = options.condaFile === undefined ? undefined : await readCondaEnvironment(options.condaFile);
      const body = studioRequestOf(options, condaEnvironment);
      const query = queryOf({ workspaceId: options.workspace, autoStart: String(options.start ?? false) });
      const { studio } = await clientFor(command).call<{ studio: StudioView }>('POST', `/api/studios?${query}`, body);
      if (options.json) return console.log(JSON.stringify(studio, null, 2));
      console.log(`created studio ${studio.name} (session ${studio.sessionId}, ${studio.statusInfo.status}): ${studio.studioUrl}`);
    });

  inWorkspace(studios.command('start <studio>'))
    .description('start a studio\'s session')
    .action(async (reference: string, options: WorkspaceOption, command: Command) => {
      const client = clientFor(command);
      const studio = await resolveStudio(client, reference, options);
      const answer = await client.call<{ statusInfo?: StatusInfo }>('PUT', `${pathOf(studio)}/start`);
      console.log(`${studio.name}: ${answer.statusInfo?.status ?? 'starting'} (${studio.studioUrl})`);
    });

  inWorkspace(studios.command('stop <studio>'))
    .description('stop a studio\'s session (the studio and its workspace volume stay)')
    .action(async (reference: string, options: WorkspaceOption, command: Command) => {
      const client = clientFor(command);
      const studio = await resolveStudio(client, reference, options);
      const answer = await client.call<{ statusInfo?: StatusInfo }>('PUT', `${pathOf(studio)}/stop`);
      console.log(`${studio.name}: ${answer.statusInfo?.status ?? 'stopping'}`);
    });

  inWorkspace(studios.command('delete <studio>'))
    .description('delete a stopped studio')
    .action(async (reference: string, options: WorkspaceOption, command: Command) => {
      const client = clientFor(command);
      const studio = await resolveStudio(client, reference, options);
      await client.call('DELETE', pathOf(studio));
      console.log(`deleted studio ${studio.name} (session ${studio.sessionId})`);
    });

  inWorkspace(studios.command('open <studio>'))
    .description('print the studio\'s URL; --browser also opens it')
    .option('--browser', 'open it with xdg-open')
    .action(async (reference: string, options: WorkspaceOption & { browser?: boolean }, command: Command) => {
      const studio = await resolveStudio(clientFor(command), reference, options);
      console.log(studio.studioUrl);
      if (options.browser) await openInBrowser(studio.studioUrl);
    });

  inWorkspace(studios.command('logs <studio>'))
    .description('the session\'s log (the agent\'s and the tool\'s output)')
    .action(async (reference: string, options: WorkspaceOption, command: Command) => {
      const client = clientFor(command);
      const studio = await resolveStudio(client, reference, options);
      const response = await client.stream(`${pathOf(studio)}/logs`);
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) process.stdout.write(chunk);
    });

  inWorkspace(studios.command('wait <studio>'))
    .description('wait until a studio is in a status; progress goes to standard error. Fails on timeout, buildFailed or errored')
    .requiredOption('--status <status>', `the status to wait for: ${studioStatuses.join(', ')}`, statusArgument)
    .option('--timeout <seconds>', 'give up after this long, seconds', positiveInteger, 120)
    .action(async (reference: string, options: WorkspaceOption & { status: StudioStatus; timeout: number }, command: Command) => {
      const client = clientFor(command);
      const studio = await resolveStudio(client, reference, options);
      await waitForStatus(client, studio, options.status, options.timeout);
    });
}

/** The POST /api/studios body for `add`, checked as far as it can be without the server. */
export function studioRequestOf(options: AddOptions, condaEnvironment: string | undefined): Record<string, unknown> {
  if (options.template !== undefined && options.image !== undefined) throw new CliError('give --template or --image, not both');
  if (options.template === undefined && options.image === undefined && options.repository === undefined) {
    throw new CliError('give what the studio runs: --template KEY, --image IMAGE or --repository URL');
  }
  if (options.revision !== undefined && options.repository === undefined) throw new CliError('--revision goes with --repository');
  if (options.repository !== undefined && (options.template !== undefined || options.image !== undefined)) {
    throw new CliError('a studio from --repository takes its image from the repository: leave out --template and --image');
  }
  return {
    name: options.name,
    description: options.description,
    templateKey: options.template,
    dataStudioToolUrl: options.image,
    // The API takes a compute environment by id or by name.
    computeEnvId: options.computeEnv,
    remoteConfig: options.repository === undefined ? undefined : { repository: options.repository, revision: options.revision },
    configuration: {
      cpu: options.cpu,
      memory: options.memory,
      gpu: options.gpu,
      condaEnvironment,
      environment: environmentOf(options.env ?? []),
      lifespanHours: options.lifespan,
    },
    isPrivate: options.private,
    labels: options.label,
  };
}

/** `KEY=VALUE` entries as an object (a later entry for the same key wins); undefined when there are none. */
export function environmentOf(entries: string[]): Record<string, string> | undefined {
  if (entries.length === 0) return undefined;
  try {
    return Object.fromEntries(entries.map((entry) => envPair(entry)));
  } catch (error) {
    if (error instanceof AugmentError) throw new CliError(`--env: ${error.message}`);
    throw error;
  }
}

/** The conda file's text, refused here when the API would refuse it. */
export async function readCondaEnvironment(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text.trim() === '') throw new CliError(`${file} is empty`);
  if (text.length > maxCondaEnvironmentChars) {
    throw new CliError(`${file} has ${text.length} characters; a studio's conda environment may have at most ${maxCondaEnvironmentChars}`);
  }
  return text;
}

/** Session ids are short lower-case alphanumerics; anything else can only be a name. */
const sessionIdShape = /^[a-z0-9]{8,40}$/;
const namePageSize = 100;

/**
 * A studio by session id or name. Something shaped like a session id is looked up as one first (it
 * needs no workspace); a name is matched exactly among the workspace's studios whose names contain it.
 */
async function resolveStudio(client: ApiClient, reference: string, options: WorkspaceOption): Promise<StudioView> {
  if (sessionIdShape.test(reference)) {
    const byId = await client.call<{ studio: StudioView }>('GET', `/api/studios/${reference}`).catch((error: unknown) => {
      if (error instanceof CliError) return undefined;
      throw error;
    });
    if (byId) return byId.studio;
  }
  for (let offset = 0; ; offset += namePageSize) {
    const query = queryOf({ workspaceId: options.workspace, search: reference, max: String(namePageSize), offset: String(offset) });
    const page = await client.call<{ studios: StudioView[]; totalSize: number }>('GET', `/api/studios?${query}`);
    const found = page.studios.find((studio) => studio.name === reference);
    if (found) return found;
    if (page.studios.length === 0 || offset + page.studios.length >= page.totalSize) break;
  }
  throw new CliError(`no studio named "${reference}" in ${options.workspace === undefined ? 'your personal workspace' : `workspace ${options.workspace}`}`);
}

/** Statuses a studio passes on its way up; seeing it stopped after one of them means it will not get there. */
const upward: readonly StudioStatus[] = ['building', 'starting', 'running'];

type Outcome = { reached: true } | { reached: false; reason: string };

/**
 * What `wait` has seen of a studio: prints each new status and progress entry to standard error and
 * says when the wait is over, either way.
 */
class StudioWatch {
  private current: StatusInfo | undefined;
  private wasActive = false;
  private readonly printed = new Set<string>();

  constructor(
    private readonly name: string,
    private readonly awaited: StudioStatus,
  ) {}

  get status(): StatusInfo | undefined {
    return this.current;
  }

  progress(entry: ProgressEntry): void {
    const key = JSON.stringify([entry.step, entry.status, entry.at, entry.message]);
    if (this.printed.has(key)) return;
    this.printed.add(key);
    console.error(`${this.name}: ${entry.step} ${entry.status}${entry.message ? `: ${entry.message}` : ''}`);
  }

  statusInfo(info: StatusInfo): Outcome | undefined {
    if (info.status !== this.current?.status || info.message !== this.current.message) {
      const detail = info.message && info.message !== info.status ? ` (${info.message})` : '';
      console.error(`${this.name}: ${info.status}${detail}`);
    }
    this.current = info;
    if (info.status === this.awaited) return { reached: true };
    if (info.status === 'buildFailed' || info.status === 'errored') {
      return { reached: false, reason: `${this.name} is ${info.status}: ${info.message ?? 'no reason given'}` };
    }
    if (info.status === 'stopped' && this.wasActive && upward.includes(this.awaited)) {
      const why = [info.stopReason, info.message].filter(Boolean).join(': ');
      return { reached: false, reason: `${this.name} stopped${why ? ` (${why})` : ''} before it was ${this.awaited}` };
    }
    if (isActive(info.status)) this.wasActive = true;
    return undefined;
  }

  studio(studio: StudioView): Outcome | undefined {
    for (const entry of studio.progress ?? []) this.progress(entry);
    return this.statusInfo(studio.statusInfo);
  }
}

const expired = Symbol('expired');

function beforeDeadline<T>(work: Promise<T>, deadline: number): Promise<T | typeof expired> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof expired>((resolve) => (timer = setTimeout(() => resolve(expired), Math.max(0, deadline - Date.now()))));
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Follows the studio's events until it is in `awaited`, falling back to polling it every second when
 * the stream is unavailable or ends. Throws (non-zero exit) on timeout, and on buildFailed or errored
 * (unless awaited) with the reason and, for a failed build, its error report.
 */
async function waitForStatus(client: ApiClient, studio: StudioView, awaited: StudioStatus, timeoutS: number): Promise<void> {
  const deadline = Date.now() + timeoutS * 1000;
  const watch = new StudioWatch(studio.name, awaited);
  let outcome = await followEvents(client, studio, watch, deadline);
  while (outcome === undefined) {
    const current = await beforeDeadline(client.call<{ studio: StudioView }>('GET', pathOf(studio)), deadline);
    if (current === expired) break;
    outcome = watch.studio(current.studio);
    if (outcome === undefined && (await beforeDeadline(sleep(1000), deadline)) === expired) break;
  }
  if (outcome?.reached) return;
  if (outcome) throw new CliError(await withBuildReport(client, studio, watch, outcome.reason));
  const now = watch.status;
  throw new CliError(`timed out after ${timeoutS} s waiting for ${studio.name} to be ${awaited}${now ? ` (it is ${now.status}${now.message ? `: ${now.message}` : ''})` : ''}`);
}

/**
 * The server-sent events of the studio until the wait is over. The studio is read once the stream is
 * open, so that a change between resolving it and connecting is not missed. Undefined when the
 * stream could not be opened or ended first (the caller polls).
 */
async function followEvents(client: ApiClient, studio: StudioView, watch: StudioWatch, deadline: number): Promise<Outcome | undefined> {
  const opened = await beforeDeadline(
    client.stream(`${pathOf(studio)}/events`, 'text/event-stream').catch((error: unknown) => {
      if (error instanceof CliError) return undefined;
      throw error;
    }),
    deadline,
  );
  if (opened === expired || opened === undefined || !opened.body) return undefined;
  const reader = opened.body.getReader();
  try {
    const now = await beforeDeadline(client.call<{ studio: StudioView }>('GET', pathOf(studio)), deadline);
    if (now === expired) return undefined;
    const first = watch.studio(now.studio);
    if (first) return first;
    const parser = new EventStreamParser();
    const decoder = new TextDecoder();
    for (;;) {
      const next = await beforeDeadline(reader.read(), deadline);
      if (next === expired || next.done) return undefined;
      for (const event of parser.push(decoder.decode(next.value, { stream: true }))) {
        if (event.event === 'progress') watch.progress(JSON.parse(event.data) as ProgressEntry);
        if (event.event !== 'status') continue;
        const outcome = watch.statusInfo(JSON.parse(event.data) as StatusInfo);
        if (outcome) return outcome;
      }
    }
  } finally {
    // Ends the response so that nothing keeps the process alive once the wait is over.
    void reader.cancel().catch(() => undefined);
  }
}

/** The failure reason, followed for a failed build by its error report (from the studio, else from its build). */
async function withBuildReport(client: ApiClient, studio: StudioView, watch: StudioWatch, reason: string): Promise<string> {
  if (watch.status?.status !== 'buildFailed') return reason;
  const current = await client.call<{ studio: StudioView }>('GET', pathOf(studio)).then((answer) => answer.studio, () => studio);
  let report = current.errorReport ?? undefined;
  if (!report && current.buildId) {
    const build = await client.call<{ build: { errorReport: BuildErrorReport | null } }>('GET', `/api/builds/${encodeURIComponent(current.buildId)}`).catch(() => undefined);
    report = build?.build.errorReport ?? undefined;
  }
  if (!report) return reason;
  const lines = [reason, `  error  ${report.message}`];
  if (report.step) lines.push(`  step   ${report.stepNumber ?? '?'}: ${report.step}${report.exitCode === undefined ? '' : ` (exit code ${report.exitCode})`}`);
  for (const line of (report.lastLines ?? []).slice(-10)) lines.push(`  | ${line}`);
  return lines.join('\n');
}

export interface ServerSentEvent {
  event: string;
  data: string;
}

/** Splits a text/event-stream into events as chunks arrive (comments ignored, multi-line data joined). */
export class EventStreamParser {
  private buffered = '';
  private event = '';
  private data: string[] = [];

  push(text: string): ServerSentEvent[] {
    this.buffered += text;
    const events: ServerSentEvent[] = [];
    let newline: number;
    while ((newline = this.buffered.search(/\r\n|\r|\n/)) >= 0) {
      // A lone \r at the end of a chunk may be half of \r\n: wait for the next chunk.
      if (this.buffered[newline] === '\r' && newline === this.buffered.length - 1) break;
      const line = this.buffered.slice(0, newline);
      this.buffered = this.buffered.slice(newline + (this.buffered.startsWith('\r\n', newline) ? 2 : 1));
      const event = this.line(line);
      if (event) events.push(event);
    }
    return events;
  }

  private line(line: string): ServerSentEvent | undefined {
    if (line === '') {
      const event = this.data.length ? { event: this.event || 'message', data: this.data.join('\n') } : undefined;
      this.event = '';
      this.data = [];
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    return undefined;
  }
}

async function openInBrowser(url: string): Promise<void> {
  const child = spawn('xdg-open', [url], { detached: true, stdio: 'ignore' });
  // events.once rejects when 'error' comes first (xdg-open missing).
  const started = await once(child, 'spawn').then(() => true, () => false);
  if (started) child.unref();
  else console.error('berth: could not run xdg-open; open the URL above yourself');
}

function pathOf(studio: StudioView): string {
  return `/api/studios/${encodeURIComponent(studio.sessionId)}`;
}

function toolOf(studio: StudioView): string {
  return studio.template?.tool ?? (studio.image ? 'custom' : '');
}

function queryOf(values: Record<string, string | undefined>): URLSearchParams {
  return new URLSearchParams(Object.entries(values).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

function statusArgument(value: string): StudioStatus {
  if (!(studioStatuses as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be one of ${studioStatuses.join(', ')}`);
  return value as StudioStatus;
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a number above 0');
  return parsed;
}

function nonNegativeNumber(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < 0) throw new InvalidArgumentError('must be a number, 0 or more');
  return parsed;
}

function positiveInteger(value: string): number {
  const parsed = integer(value);
  if (parsed === 0) throw new InvalidArgumentError('must be above 0');
  return parsed;
}
