import type { Command } from 'commander';
import { checkAvailability, checkAvailabilityInput, type CheckResult } from '../toolbox/ecr/check-availability.ts';
import { createPullThroughCache, createPullThroughCacheInput } from '../toolbox/ecr/create-pull-through-cache.ts';
import { grantAccess, grantAccessInput, type GrantResult } from '../toolbox/ecr/grant-access.ts';
import { grantHealthOmicsAccess, grantHealthOmicsInput } from '../toolbox/ecr/grant-healthomics.ts';
import { listPullThroughCacheRules, listPullThroughCacheRulesInput } from '../toolbox/ecr/list-pull-through-cache-rules.ts';
import { validateEcrConfiguration, validateEcrInput, type CheckStatus } from '../toolbox/ecr/validate-ecr.ts';
import { ToolboxError, type ProgressEvent } from '../toolbox/toolbox-operation.ts';
import { CliError } from './client.ts';
import { printTable } from './output.ts';
import { cliToolboxContext, withEcrTargetOptions, type EcrTargetFlags } from './toolbox-context.ts';

type Flags = EcrTargetFlags & { json?: boolean };

const marks: Record<CheckStatus, string> = { pass: '✓', fail: '✗', warn: '!' };

/**
 * `berth check IMAGE`, `berth grant REPO --principal P`, `berth grant healthomics …`,
 * `berth ecr pull-through create|list` and `berth ecr validate`: the toolbox's ECR-side operations against
 * Berth (a workspace's registry; default your own) or, with `--aws --region R`, Amazon ECR.
 */
export function ecrCommands(program: Command): void {
  withEcrTargetOptions(program.command('check <image>'))
    .description('is an image available (or which pull-through rule serves it); digest, size, platforms, who can pull. IMAGE: [HOST/]WORKSPACE/REPO[:TAG|@DIGEST] (Berth) or [ACCOUNT.dkr.ecr.REGION.amazonaws.com/]REPO[:TAG] (--aws)')
    .option('--pull-through', 'fetch a missing image through its pull-through cache now')
    .option('--json', 'print JSON')
    .action(
      act(async (image: string, flags: Flags & { pullThrough?: boolean }, command: Command) => {
        const reference = imageArgument(image, flags);
        const result = await checkAvailability(
          checkAvailabilityInput.parse({ ...reference, pullThrough: flags.pullThrough ?? false, ...(reference.region && { region: reference.region }) }),
          cliToolboxContext(command, { progress: flags.json ? undefined : progressLines }),
        );
        print(flags.json, result, () => printCheck(result));
        if (!result.available) process.exitCode = 1;
      }),
    );

  const grant = withEcrTargetOptions(program.command('grant'))
    .description('let a workspace, user, account or service pull (or push) a repository; REPO is relative to --workspace, else WORKSPACE/REPO')
    .argument('<repository>')
    .option('--principal <principal>', 'a workspace slug, user:WORKSPACE/NAME, an IAM ARN, a 12-digit account id, or a service (omics.amazonaws.com)')
    .option('--actions <actions>', 'pull or push (push includes pull)', 'pull')
    .option('--json', 'print JSON')
    .action(
      act(async (repository: string, flags: Flags & { principal?: string; actions: string }, command: Command) => {
        // Not a required option: commander would then ask for it on `grant healthomics` too.
        if (!flags.principal) throw new CliError('give --principal: a workspace, user:WORKSPACE/NAME, an account id, an IAM ARN or a service');
        const target = repositoryArgument(repository, flags);
        const result = await grantAccess(grantAccessInput.parse({ ...target, principal: flags.principal, actions: flags.actions }), cliToolboxContext(command));
        print(flags.json, result, () => printGrant(`${flags.principal} may ${flags.actions} ${repository}`, result));
      }),
    );
  withEcrTargetOptions(grant.command('healthomics'))
    .description('let AWS HealthOmics (or --service) pull a repository, or use a pull-through cache prefix (registry policy, creation template, its repositories)')
    .argument('[repository]')
    .option('--pull-through <prefix>', 'a pull-through cache prefix instead of one repository')
    .option('--service <principal>', 'the service principal', 'omics.amazonaws.com')
    .option('--json', 'print JSON')
    .action(
      act(async (repository: string | undefined, flags: Flags & { pullThrough?: string; service: string }, command: Command) => {
        const target = repository ? repositoryArgument(repository, flags) : { ...(flags.workspace && { workspace: flags.workspace }) };
        const result = await grantHealthOmicsAccess(
          grantHealthOmicsInput.parse({ ...target, ...(flags.pullThrough && { pullThroughPrefix: flags.pullThrough }), servicePrincipal: flags.service }),
          cliToolboxContext(command),
        );
        print(flags.json, result, () => (result.repository ? printGrant(result.message, result.repository) : console.log(result.message)));
      }),
    );

  const ecr = program.command('ecr').description('ECR-side setup: pull-through caches for workflows and services, and its validation');
  const pullThrough = ecr.command('pull-through').description('pull-through caches (ECR rules), with the permissions a service such as HealthOmics needs');
  withEcrTargetOptions(pullThrough.command('create <upstream>'))
    .description('cache UPSTREAM (docker-hub, quay, ecr-public, ghcr, k8s, gitlab, or a registry URL) under a prefix')
    .option('--prefix <prefix>', 'repository prefix (default: the preset name; required for a URL)')
    .option('--credential-arn <arn>', 'the ecr-pullthroughcache/<name> secret with the upstream login')
    .option('--upstream-registry <kind>', "ECR's upstream kind (default from the preset)")
    .option('--upstream-prefix <prefix>', 'the upstream namespace the prefix maps to')
    .option('--healthomics', 'also let the service use the cache (registry policy and creation template)')
    .option('--service <principal>', 'the service principal for --healthomics', 'omics.amazonaws.com')
    .option('--json', 'print JSON')
    .action(
      act(async (upstream: string, flags: Flags & { prefix?: string; credentialArn?: string; upstreamRegistry?: string; upstreamPrefix?: string; healthomics?: boolean; service: string }, command: Command) => {
        const result = await createPullThroughCache(
          createPullThroughCacheInput.parse({
            upstream,
            ...(flags.prefix && { ecrRepositoryPrefix: flags.prefix }),
            ...(flags.credentialArn && { credentialArn: flags.credentialArn }),
            ...(flags.upstreamRegistry && { upstreamRegistry: flags.upstreamRegistry }),
            ...(flags.upstreamPrefix && { upstreamRepositoryPrefix: flags.upstreamPrefix }),
            healthOmicsAccess: flags.healthomics ?? false,
            servicePrincipal: flags.service,
            ...targetOf(flags),
          }),
          cliToolboxContext(command),
        );
        print(flags.json, result, () => console.log(result.message));
      }),
    );
  withEcrTargetOptions(pullThrough.command('list'))
    .description("the rules, their upstream and credential, and whether a service (HealthOmics by default) can use each")
    .option('--service <principal>', 'the service whose access is judged', 'omics.amazonaws.com')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags & { service: string }, command: Command) => {
        const result = await listPullThroughCacheRules(listPullThroughCacheRulesInput.parse({ servicePrincipal: flags.service, ...targetOf(flags) }), cliToolboxContext(command));
        print(flags.json, result, () =>
          printTable(
            ['PREFIX', 'UPSTREAM', 'CREDENTIAL', `USABLE BY ${result.servicePrincipal}`],
            result.rules.map((rule) => [
              rule.ecrRepositoryPrefix,
              rule.upstreamRegistryUrl,
              rule.credentialArn?.split(':secret:')[1] ?? '',
              rule.usable ? 'yes' : `no: ${[...(rule.registryPermissionGranted ? [] : ['registry policy']), ...(rule.repositoryTemplatePermissionGranted ? [] : ['creation template'])].join(', ')}`,
            ]),
          ),
        );
      }),
    );
  withEcrTargetOptions(ecr.command('validate'))
    .description('check the pull-through setup for a service (HealthOmics by default): each item with its fix; exit code 1 when one fails')
    .option('--service <principal>', 'the service that must be able to use the caches', 'omics.amazonaws.com')
    .option('--json', 'print JSON')
    .action(
      act(async (flags: Flags & { service: string }, command: Command) => {
        const result = await validateEcrConfiguration(validateEcrInput.parse({ servicePrincipal: flags.service, ...targetOf(flags) }), cliToolboxContext(command));
        print(flags.json, result, () => {
          console.log(`registry ${result.registryId}, for ${result.servicePrincipal}:`);
          for (const check of result.checks) {
            console.log(`${marks[check.status]} ${check.message}`);
            if (check.fix && check.status !== 'pass') console.log(`    fix: ${check.fix}`);
          }
        });
        if (!result.valid) process.exitCode = 1;
      }),
    );
}

/** Runs an action; a ToolboxError is printed as `berth: CODE: message` with exit code 1. */
function act<A extends unknown[]>(action: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (error) {
      if (!(error instanceof ToolboxError)) throw error;
      console.error(`berth: ${error.code}: ${error.message}`);
      process.exitCode = 1;
    }
  };
}

function targetOf(flags: Flags): { workspace?: string; region?: string } {
  return { ...(flags.workspace && { workspace: flags.workspace }), ...(flags.region && { region: flags.region }) };
}

/**
 * A repository argument: with --aws or --workspace, the repository name itself; otherwise
 * `WORKSPACE/REPO`, as Berth's image names are written.
 */
export function repositoryArgument(text: string, flags: Flags): { repositoryName: string; workspace?: string; region?: string } {
  if (flags.aws || flags.workspace) return { repositoryName: text, ...targetOf(flags) };
  const slash = text.indexOf('/');
  if (slash <= 0) throw new CliError(`"${text}" names no workspace: write WORKSPACE/REPO, or give --workspace`);
  return { repositoryName: text.slice(slash + 1), workspace: text.slice(0, slash) };
}

const amazonHost = /^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

/**
 * An image argument: `[HOST/]WORKSPACE/REPO[:TAG|@DIGEST]` on Berth (the workspace is the first path
 * component, unless --workspace names it), `[ACCOUNT.dkr.ecr.REGION.amazonaws.com/]REPO[:TAG|@DIGEST]` with --aws.
 */
export function imageArgument(text: string, flags: Flags): { repositoryName: string; imageTag?: string; imageDigest?: string; workspace?: string; region?: string } {
  let rest = text.trim();
  let imageDigest: string | undefined;
  let imageTag: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) [rest, imageDigest] = [rest.slice(0, at), rest.slice(at + 1)];
  const colon = rest.indexOf(':', rest.lastIndexOf('/') + 1);
  if (colon >= 0) [rest, imageTag] = [rest.slice(0, colon), rest.slice(colon + 1)];
  const first = rest.split('/')[0] ?? '';
  const hasHost = rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const path = hasHost ? rest.slice(first.length + 1) : rest;
  const region = flags.region ?? (hasHost ? amazonHost.exec(first)?.[2] : undefined);
  const reference = { ...(imageTag && { imageTag }), ...(imageDigest && { imageDigest }) };
  if (flags.aws) return { repositoryName: path, ...reference, ...(region && { region }) };
  if (flags.workspace && !hasHost) return { repositoryName: path, ...reference, workspace: flags.workspace };
  return { ...repositoryArgument(path, {}), ...reference };
}

function print(json: boolean | undefined, value: unknown, human: () => void): void {
  if (json) console.log(JSON.stringify(value, null, 2));
  else human();
}

/** Steps on standard error, so that standard output stays the result. */
function progressLines(event: ProgressEvent): void {
  if (event.kind === 'step') console.error(event.message);
  else if (event.state === 'done') console.error(`  fetched ${event.label} (${size(event.doneBytes)})`);
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function printCheck(result: CheckResult): void {
  const name = result.imageUri ?? `${result.repositoryName}:${result.reference}`;
  console.log(`${result.available ? '✓' : '✗'} ${result.available ? name : result.message}`);
  const row = (label: string, value: string) => console.log(`  ${label.padEnd(10)} ${value}`);
  if (result.pullThroughRule) row('rule', `${result.pullThroughRule.ecrRepositoryPrefix} ← ${result.pullThroughRule.upstreamImage}`);
  if (!result.available) return;
  row('digest', result.digest ?? '');
  if (result.sizeInBytes !== undefined) row('size', size(result.sizeInBytes));
  if (result.platforms?.length) row('platforms', result.platforms.map((p) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`).join(', '));
  if (result.pulledThrough) row('fetched', 'through the pull-through cache, now');
  if (result.whoCanPull) {
    row('pull', result.whoCanPull.owners);
    for (const statement of result.whoCanPull.statements) {
      const what = statement.push ? 'push' : statement.pull ? 'pull' : statement.actions.join(', ');
      row('', `${statement.effect} ${statement.principals.join(', ')}: ${what}${statement.conditional ? ' (with conditions)' : ''}${statement.sid ? ` [${statement.sid}]` : ''}`);
    }
  }
}

function printGrant(headline: string, result: Omit<GrantResult, 'principal'>): void {
  console.log(`${headline} (Sid ${result.sid}${result.replaced.length ? `, replacing ${result.replaced.join(', ')}` : ''})`);
  console.log(JSON.stringify(result.policy, null, 2));
}
