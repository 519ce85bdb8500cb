import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { inspectStudioSource, type StudioCheckResult, type StudioPlanSummary, type StudioProblem, type StudioSourceOptions } from '../builder/studio-config/studio-source.ts';
import { CliError } from './client.ts';

/**
 * `berth studio-config check <git-url|dir>`: validates `.seqera/studio-config.yaml` and plans the build, on this
 * machine, without a Berth server. Exit codes: 0 valid, 1 invalid, 2 usage errors (as `berth` reports CliError).
 */
export function studioConfigCommands(studioConfig: Command): void {
  studioConfig
    .command('check <source>')
    .description('validate .seqera/studio-config.yaml of a git repository (URL or local repository) or of a directory, and plan its build')
    .option('--revision <revision>', 'branch, tag or commit to check out (default: the default branch; without it a local directory is checked as it is)')
    .option('--token-env <variable>', 'environment variable holding a GitHub token for a private repository')
    .option('--json', 'print the result as JSON')
    // Usage errors (unknown options, a missing argument) exit 2 like the other usage errors, not commander's 1.
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2))
    .action(async (source: string, options: { revision?: string; tokenEnv?: string; json?: boolean }) => {
      const result = await inspectStudioSource({ ...sourceOptions(source, options.revision), token: tokenFrom(options.tokenEnv) });
      if (options.json) console.log(JSON.stringify(result, null, 2));
      else printResult(result);
      if (!result.ok) process.exitCode = 1;
    });
}

/**
 * A URL is cloned. A local path is cloned when a revision is asked for (it must then be a git repository), and
 * otherwise checked as it is, uncommitted changes included — what you want before committing.
 */
function sourceOptions(source: string, revision: string | undefined): StudioSourceOptions {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(source)) return { url: source, revision };
  if (!existsSync(source)) throw new CliError(`${source} is neither a URL nor an existing directory`);
  return revision === undefined ? { dir: source } : { url: source, revision };
}

function tokenFrom(variable: string | undefined): string | undefined {
  if (variable === undefined) return undefined;
  const token = process.env[variable];
  if (!token) throw new CliError(`--token-env ${variable}: the environment variable ${variable} is not set`);
  return token;
}

function printResult(result: StudioCheckResult): void {
  for (const check of result.checks) console.log(`✓ ${check}`);
  if (!result.ok) for (const problem of result.problems) console.log(`✗ ${located(problem)}`);
  for (const warning of result.warnings) console.log(`! ${located(warning)}`);
  if (result.ok) console.log(`\n${describePlan(result.plan)}`);
}

/** `.seqera/studio-config.yaml line 7: message` */
function located(problem: StudioProblem): string {
  if (problem.file === null) return problem.message;
  const where = `${problem.file}${problem.line === null ? '' : ` line ${problem.line}`}`;
  // Messages about a whole file often start with its name already.
  return problem.line === null && problem.message.includes(problem.file) ? problem.message : `${where}: ${problem.message}`;
}

function describePlan(plan: StudioPlanSummary): string {
  const lines: string[] = [];
  if (plan.kind === 'dockerfile') {
    const context = plan.context;
    const contextText = context ? ` with the context .seqera/ (${context.files} files, ${context.bytes} bytes, ${context.digest})` : '';
    lines.push(`plan:     build ${plan.dockerfile}${contextText}`);
  } else if (plan.kind === 'registry') lines.push(`plan:     run the image ${plan.image}`);
  else lines.push('plan:     no template of its own (the default template is used)');
  if (plan.condaEnvironmentFile !== null) {
    const packages = plan.condaEnvironment ? ` (${plan.condaEnvironment.dependencies.join(', ') || 'no packages'})` : '';
    lines.push(`conda:    ${plan.condaEnvironmentFile}${packages}`);
  }
  const { session } = plan;
  const batch = session.computeRequirements.awsBatch;
  lines.push(`session:  ${session.name ?? '(generated name)'}${session.description ? ` — ${session.description}` : ''}`);
  lines.push(`clone:    ${session.clone.enabled ? `into ${session.clone.path}` : 'no'}`);
  lines.push(`compute:  ${batch.cpu} CPU, ${batch.gpu} GPU, ${batch.memoryMiB} MiB`);
  lines.push(`lifespan: ${session.management.lifespanHours === null ? 'the workspace default' : `${session.management.lifespanHours} h`}; private: ${session.management.isPrivate ? 'yes' : 'no'}; ssh: ${session.ssh.enabled ? 'yes' : 'no'}`);
  if (session.environmentVariables.length > 0) lines.push(`env:      ${session.environmentVariables.map((v) => v.name).join(', ')}`);
  return lines.join('\n');
}
