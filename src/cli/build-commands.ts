import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { packDirectory } from '../builder/augment/directory-tar.ts';
import { inlineBuildContext } from '../builder/builds/build-context.ts';
import { clientFor } from './arguments.ts';
import { CliError, type ApiClient } from './client.ts';
import { printTable } from './output.ts';

interface BuildView {
  id: string;
  status: string;
  targetImage: string;
  digest: string | null;
  createdAt: string;
  durationS: number | null;
  errorReport: { message: string; step?: string; stepNumber?: number; exitCode?: number; lastLines: string[] } | null;
}

interface SubmitOptions {
  file?: string;
  context?: string;
  conda?: string;
  package?: string[];
  channel?: string[];
  image?: string;
  repository?: string;
  platform?: string;
  freeze?: boolean;
  nameStrategy?: string;
  workspace?: string;
  follow?: boolean;
  json?: boolean;
}

/** `berth build …`: the build service from the command line, over `/api/builds`. */
export function buildCommands(build: Command): void {
  build
    .command('submit')
    .description('build an image from a Dockerfile (with a context directory), conda packages, or an image to freeze')
    .option('-f, --file <Dockerfile>', 'the Dockerfile')
    .option('--context <dir>', 'the build context (with --file); sent as a tar.gz, at most 10 MB')
    .option('--conda <environment.yml>', 'a conda environment file')
    .option('--package <spec...>', 'conda packages (match specs), instead of --conda')
    .option('--channel <channel...>', 'conda channels for --package or --conda')
    .option('--image <reference>', 'an existing image (with --freeze: copied into --repository)')
    .option('--repository <host/workspace/repo>', 'where the image goes (default: <host>/<workspace>/builds)')
    .option('--platform <os/arch>', 'target platform (default linux/amd64)')
    .option('--freeze', 'build into --repository for good (Wave freeze mode)')
    .option('--name-strategy <strategy>', 'tagPrefix (default), imageSuffix or none')
    .option('--workspace <slug>', 'workspace whose builds repository is the default target (default: your own)')
    .option('--follow', 'stream the log until the build ends; exit 1 when it fails')
    .option('--json', 'print the answer as JSON')
    .action(async (options: SubmitOptions, command: Command) => {
      const client = clientFor(command);
      const answer = await client.call<{ buildId: string | null; targetImage: string; cached: boolean | null; status: string | null }>('POST', '/api/builds', await requestOf(options));
      if (options.json) console.log(JSON.stringify(answer, null, 2));
      else if (!answer.buildId) console.log(`nothing to build: use ${answer.targetImage}`);
      else console.log(`${answer.cached ? 'cached' : (answer.status ?? 'submitted')}: ${answer.targetImage} (build ${answer.buildId})`);
      if (options.follow && answer.buildId && !answer.cached) await follow(client, answer.buildId);
    });
  build
    .command('logs <id>')
    .description('print a build log; --follow streams it until the build ends')
    .option('--follow', 'stream until the build ends; exit 1 when it fails')
    .action(async (id: string, options: { follow?: boolean }, command: Command) => {
      const client = clientFor(command);
      if (options.follow) return follow(client, id);
      process.stdout.write(await (await client.stream(`/api/builds/${encodeURIComponent(id)}/logs`)).text());
    });
  build
    .command('status <id>')
    .description('status, image, digest and, for a failed build, its error report')
    .option('--json', 'print JSON')
    .action(async (id: string, options: { json?: boolean }, command: Command) => {
      const { build: view } = await clientFor(command).call<{ build: BuildView }>('GET', `/api/builds/${encodeURIComponent(id)}`);
      if (options.json) return console.log(JSON.stringify(view, null, 2));
      console.log(`${view.id}: ${view.status}\n  image  ${view.targetImage}${view.digest ? `@${view.digest}` : ''}`);
      if (view.errorReport) printReport(view.errorReport);
    });
  build
    .command('list')
    .description('recent builds you may see')
    .option('--workspace <slug>', 'only this workspace')
    .option('--max <n>', 'how many (default 50)')
    .option('--json', 'print JSON')
    .action(async (options: { workspace?: string; max?: string; json?: boolean }, command: Command) => {
      const query = new URLSearchParams({ ...(options.workspace ? { workspace: options.workspace } : {}), ...(options.max ? { max: options.max } : {}) });
      const { builds } = await clientFor(command).call<{ builds: BuildView[] }>('GET', `/api/builds?${query}`);
      if (options.json) return console.log(JSON.stringify(builds, null, 2));
      printTable(['ID', 'STATUS', 'IMAGE', 'CREATED', 'SECONDS'], builds.map((b) => [b.id, b.status, b.targetImage, b.createdAt, b.durationS?.toFixed(1) ?? '']));
    });
  build
    .command('cancel <id>')
    .description('cancel a pending or running build')
    .action(async (id: string, _options: unknown, command: Command) => {
      const { build: view } = await clientFor(command).call<{ build: BuildView }>('POST', `/api/builds/${encodeURIComponent(id)}/cancel`);
      console.log(`${view.id}: ${view.status}`);
    });
}

async function requestOf(options: SubmitOptions): Promise<Record<string, unknown>> {
  const conda = options.conda !== undefined || options.package !== undefined;
  if ([options.file !== undefined, conda, options.image !== undefined].filter(Boolean).length !== 1) {
    throw new CliError('give one of --file (a Dockerfile), --conda/--package (conda packages) or --image');
  }
  if (options.context && !options.file) throw new CliError('--context goes with --file');
  const request: Record<string, unknown> = {
    containerPlatform: options.platform,
    buildRepository: options.repository,
    freeze: options.freeze,
    nameStrategy: options.nameStrategy,
    workspace: options.workspace,
  };
  if (options.image) request.containerImage = options.image;
  if (options.file) request.containerFile = (await readInput(options.file)).toString('base64');
  if (options.context) request.buildContext = await contextOf(options.context);
  if (conda) {
    const environment = options.conda === undefined ? undefined : (await readInput(options.conda)).toString('base64');
    request.packages = { type: 'CONDA', environment, entries: options.package, channels: options.channel };
  }
  return request;
}

async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new CliError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The context directory as Wave's clients send it: a tar.gz in a `data:` URL, with its digest. */
async function contextOf(dir: string): Promise<{ location: string; gzipDigest: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of packDirectory(dir)) chunks.push(chunk);
  return inlineBuildContext(Buffer.concat(chunks));
}

/** Streams the log as server-sent events until the end event; a failed or cancelled build sets exit code 1. */
async function follow(client: ApiClient, id: string): Promise<void> {
  const response = await client.stream(`/api/builds/${encodeURIComponent(id)}/logs?follow=1`, 'text/event-stream');
  const decoder = new TextDecoder();
  let buffered = '';
  let end: { status: string; digest: string | null; errorReport: BuildView['errorReport'] } | undefined;
  for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
    buffered += decoder.decode(chunk, { stream: true });
    let boundary: number;
    while ((boundary = buffered.indexOf('\n\n')) >= 0) {
      const event = buffered.slice(0, boundary);
      buffered = buffered.slice(boundary + 2);
      if (event.startsWith('event: end\ndata: ')) end = JSON.parse(event.slice('event: end\ndata: '.length));
      else if (event.startsWith('data: ')) console.log(event.slice('data: '.length));
    }
  }
  if (!end) throw new CliError(`the log of ${id} ended without the build's outcome`);
  console.log(`\n${id}: ${end.status}${end.digest ? ` (${end.digest})` : ''}`);
  if (end.errorReport) printReport(end.errorReport);
  if (end.status !== 'succeeded') process.exitCode = 1;
}

function printReport(report: NonNullable<BuildView['errorReport']>): void {
  console.log(`  error  ${report.message}`);
  if (report.step) console.log(`  step   ${report.stepNumber ?? '?'}: ${report.step}${report.exitCode === undefined ? '' : ` (exit code ${report.exitCode})`}`);
  for (const line of report.lastLines.slice(-10)) console.log(`  | ${line}`);
}
