import { InvalidArgumentError, type Command } from 'commander';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { z } from 'zod';
import { cloneImage, cloneInput, type CloneResult } from '../toolbox/clone/clone-image.ts';
import { migrateInput, migrateRepositories, parseLocation, type MigrateResult } from '../toolbox/clone/migrate.ts';
import { uploadSessionsFile } from '../toolbox/clone/upload-sessions.ts';
import { normaliseRegistryHost, parseImageReference } from '../toolbox/references.ts';
import { ToolboxError, type RegistryLogin, type ToolboxContext } from '../toolbox/toolbox-operation.ts';
import { cliToolboxContext } from './toolbox-context.ts';
import { integer } from './arguments.ts';
import { ApiClient, type ClientOptions } from './client.ts';
import { printTable } from './output.ts';
import { formatBytes, formatRate, progressView } from './progress-view.ts';

interface RegistryFlags {
  srcCreds?: string;
  destCreds?: string;
  srcTlsVerify?: boolean;
  destTlsVerify?: boolean;
  concurrency?: number;
  stateDir?: string;
  json?: boolean;
}

/** `berth clone SRC DST` and `berth migrate --from … --to …`: copying images between any two registries. */
export function cloneCommands(program: Command): void {
  registryFlags(
    program
      .command('clone <source> <target>')
      .description('copy an image (or with --all-tags every tag of a repository) between any two registries, digests unchanged; run again to resume')
      .option('--all-tags', 'copy every tag of the source repository into the target repository'),
  ).action(async (source: string, target: string, options: RegistryFlags & { allTags?: boolean }, command: Command) => {
    const sourceHost = hostOf(source);
    const targetHost = hostOf(target);
    await runReported(options, async (context, insecureRegistries) => {
      const result = await cloneImage(
        validated(cloneInput, { source, target, allTags: options.allTags, concurrency: options.concurrency, insecureRegistries }),
        context,
        { uploadSessions: uploadSessionsFile(join(stateDir(options), 'clone-uploads.json')) },
      );
      return () => (options.json ? console.log(JSON.stringify(result, null, 2)) : printCloneSummary(result));
    }, { command, sourceHost, targetHost });
  });

  registryFlags(
    program
      .command('migrate')
      .description('move every tag of the repositories under a registry prefix to another registry and prefix, and print the configuration lines to change')
      .requiredOption('--from <registry/prefix>', 'where the repositories are, e.g. ghcr.io/old-org')
      .requiredOption('--to <host/prefix>', 'where they go, e.g. berth.example.org/lab')
      .option('--repository <name...>', 'only these repositories (relative to --from); default: the source catalog under the prefix')
      .option('--dry-run', 'list the repositories, tags and sizes that would be copied; copy nothing'),
  ).action(async (options: RegistryFlags & { from: string; to: string; repository?: string[]; dryRun?: boolean }, command: Command) => {
    await runReported(options, async (context, insecureRegistries) => {
      const result = await migrateRepositories(
        validated(migrateInput, { from: options.from, to: options.to, repositories: options.repository, dryRun: options.dryRun, concurrency: options.concurrency, insecureRegistries }),
        context,
        { uploadSessions: uploadSessionsFile(join(stateDir(options), 'clone-uploads.json')) },
      );
      return () => (options.json ? console.log(JSON.stringify(result, null, 2)) : printMigrateSummary(result));
    }, { command, sourceHost: locationHost(options.from), targetHost: locationHost(options.to) });
  });
}

function registryFlags(command: Command): Command {
  return command
    .option('--src-creds <user:password>', 'log in to the source registry as this user')
    .option('--dest-creds <user:password>', 'log in to the target registry as this user')
    .option('--src-tls-verify <bool>', 'false: speak plain HTTP to the source registry (loopback hosts always are)', boolean)
    .option('--dest-tls-verify <bool>', 'false: speak plain HTTP to the target registry', boolean)
    .option('--concurrency <n>', 'blobs copied at the same time (default 4)', integer)
    .option('--state-dir <dir>', 'where interrupted uploads are remembered for the next run (default $XDG_STATE_HOME/berth)')
    .option('--json', 'print the result as JSON');
}

/** The flags checked by the operation's own input schema, as the API and MCP faces check theirs. */
function validated<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; ');
  throw new ToolboxError('INVALID_INPUT', problems);
}

function boolean(value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new InvalidArgumentError('must be true or false');
}

function stateDir(options: RegistryFlags): string {
  return options.stateDir ?? join(process.env.XDG_STATE_HOME ?? join(homedir(), '.local', 'state'), 'berth');
}

function hostOf(reference: string): string | undefined {
  try {
    return parseImageReference(reference).registry;
  } catch {
    return undefined; // the operation itself says what is wrong with it
  }
}

function locationHost(location: string): string | undefined {
  try {
    return parseLocation(location, 'location').registry;
  } catch {
    return undefined; // the operation itself says what is wrong with it
  }
}

/**
 * Runs an operation with the CLI's toolbox context (logins from the flags, then this Berth's, then
 * docker's config.json: src/cli/toolbox-context.ts), a progress view on stderr and Ctrl-C aborting
 * cleanly, and turns a ToolboxError
 * into its message and exit code 1. `work` resolves to what prints the result, once the view is done.
 */
async function runReported(
  options: RegistryFlags,
  work: (context: ToolboxContext, insecureRegistries: string[]) => Promise<() => void>,
  ends: { command: Command; sourceHost: string | undefined; targetHost: string | undefined },
): Promise<void> {
  const view = progressView();
  const abort = new AbortController();
  const interrupt = () => abort.abort(new ToolboxError('FAILED', 'interrupted; run the same command again to continue where it stopped'));
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const berthHost = plainHttpBerth(ends.command);
  const insecure = [
    ...(options.srcTlsVerify === false && ends.sourceHost ? [ends.sourceHost] : []),
    ...(options.destTlsVerify === false && ends.targetHost ? [ends.targetHost] : []),
    ...(berthHost ? [berthHost] : []),
  ];
  let print: () => void;
  try {
    const context = cliToolboxContext(ends.command, { logins: flagLogins(options, ends), progress: view.sink, signal: abort.signal });
    print = await work(context, insecure);
  } catch (error) {
    view.finish();
    if (!(error instanceof ToolboxError)) throw error;
    console.error(`berth: ${error.message}`);
    process.exitCode = abort.signal.aborted ? 130 : 1;
    return;
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  view.finish();
  print();
}

function flagLogins(options: RegistryFlags, ends: { sourceHost: string | undefined; targetHost: string | undefined }): Record<string, RegistryLogin> {
  const logins: Record<string, RegistryLogin> = {};
  const add = (host: string | undefined, creds: string | undefined, flag: string) => {
    if (!host || creds === undefined) return;
    const colon = creds.indexOf(':');
    if (colon < 0) throw new ToolboxError('INVALID_INPUT', `${flag} must be user:password`);
    logins[host] = { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
  };
  add(ends.sourceHost, options.srcCreds, '--src-creds');
  add(ends.targetHost, options.destCreds, '--dest-creds'); // pushing needs these when both ends are one host
  return logins;
}

/** The host of the Berth this CLI talks to (--url, $BERTH_URL) when it is reached over plain HTTP: its registry is too. */
function plainHttpBerth(command: Command): string | undefined {
  try {
    const url = new URL(new ApiClient(command.optsWithGlobals() as ClientOptions).url);
    return url.protocol === 'http:' ? normaliseRegistryHost(url.host) : undefined;
  } catch {
    return undefined; // no token anywhere: Berth is then a registry like any other
  }
}

function printCloneSummary(result: CloneResult): void {
  for (const image of result.images) {
    const platforms = image.platforms.length ? ` (${image.platforms.join(', ')})` : '';
    console.log(`${image.source} → ${image.target}  ${image.digest}${platforms}`);
  }
  const { blobs, bytes, manifests } = result.totals;
  console.log(
    `copied ${blobs.copied} blobs (${formatBytes(bytes.copied)}), mounted ${blobs.mounted} (${formatBytes(bytes.mounted)}), skipped ${blobs.skipped} (${formatBytes(bytes.skipped)}); ` +
      `${manifests.pushed} manifests pushed, ${manifests.skipped} already there; ${(result.durationMs / 1000).toFixed(1)} s, ${formatRate(bytes.copied, result.durationMs)}`,
  );
}

function printMigrateSummary(result: MigrateResult): void {
  printTable(
    ['SOURCE', 'TARGET', 'TAGS', 'SIZE'],
    result.repositories.map((r) => [r.source, r.target, r.tags.join(','), formatBytes(r.sizeBytes)]),
  );
  const total = result.repositories.reduce((sum, r) => sum + r.sizeBytes, 0);
  const tags = result.repositories.reduce((sum, r) => sum + r.tags.length, 0);
  console.log(`${result.dryRun ? 'would copy' : 'copied'} ${result.repositories.length} repositories, ${tags} tags, ${formatBytes(total)} from ${result.from} to ${result.to}`);
  if (result.configuration.length) {
    console.log('\nconfiguration lines for the new location:');
    for (const line of result.configuration) console.log(`  # ${line.tool} (${line.file})\n  ${line.line}`);
  }
  if (result.pullThrough) {
    console.log(`\n${result.pullThrough.note}:\n  ${result.pullThrough.command}\n  then pull e.g. ${result.pullThrough.example}`);
  }
}
