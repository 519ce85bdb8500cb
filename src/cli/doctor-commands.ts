import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { DoctorCheck } from '../toolbox/doctor/doctor-check.ts';
import { explainError, type ExplainResult } from '../toolbox/doctor/explain-error.ts';
import type { DoctorReport } from '../toolbox/doctor/run-doctor.ts';
import { clientFor } from './arguments.ts';
import { CliError } from './client.ts';

const marks: Record<DoctorCheck['status'], string> = { pass: '✓', fail: '✗', warn: '!', skip: '-' };

/**
 * `berth doctor [--workspace W] [--json]`: the server's checklist of a workspace (exit code 1 when an
 * error-level check fails), and `berth doctor explain TEXT|-`: a pasted error's cause and fix, worked
 * out locally (no server needed).
 */
export function doctorCommands(doctor: Command): void {
  doctor
    .option('--workspace <workspace>', 'the workspace to check, by slug or id (default: your personal one)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { workspace?: string; json?: boolean }, command: Command) => {
      const report = await clientFor(command).call<DoctorReport>('POST', '/api/toolbox/doctor', options.workspace ? { workspace: options.workspace } : {});
      console.log(options.json ? JSON.stringify(report, null, 2) : checklist(report));
      if (!report.ok) process.exitCode = 1;
    });

  doctor
    .command('explain <text>')
    .description('explain a pasted error (Studios, Wave, ECR, HealthOmics, docker, Kubernetes): cause and fix; - reads standard input')
    .option('--json', 'print the result as JSON')
    .action((text: string, _options: unknown, command: Command) => {
      // `doctor` has a --json of its own, which commander gives to it wherever the flag stands
      const { json } = command.optsWithGlobals() as { json?: boolean };
      const result = explainError(text === '-' ? readStandardInput() : text);
      console.log(json ? JSON.stringify(result, null, 2) : explanation(result));
    });
}

function checklist(report: DoctorReport): string {
  const lines = [`berth doctor: workspace ${report.workspace}`, ''];
  for (const check of report.checks) {
    lines.push(`${marks[check.status]} ${check.title}: ${check.message}`);
    if (check.fix && (check.status === 'fail' || check.status === 'warn')) lines.push(...indent('fix: ', check.fix));
  }
  const { passed, failed, warnings } = report.summary;
  lines.push('', `${passed} passed, ${failed} failed, ${warnings} ${warnings === 1 ? 'warning' : 'warnings'}${report.ok ? '' : ' — fix the ✗ errors above'}`);
  return lines.join('\n');
}

function explanation(result: ExplainResult): string {
  if (!result.recognised) return ['Not recognised: this error is not in Berth\'s table of known errors.', 'Next steps:', ...result.nextSteps!.map((step) => `  - ${step}`)].join('\n');
  return result.matches
    .map((match) => [`${match.title} (${match.id})`, ...indent('matched: ', match.matched), ...indent('cause:   ', match.cause), ...indent('fix:     ', match.fix)].join('\n'))
    .join('\n\n');
}

/** `label` before the first line, the following lines aligned under it. */
function indent(label: string, text: string): string[] {
  return text.split('\n').map((line, index) => `    ${index === 0 ? label : ' '.repeat(label.length)}${line}`);
}

function readStandardInput(): string {
  const text = readFileSync(0, 'utf8');
  if (!text.trim()) throw new CliError('nothing to explain: standard input was empty');
  return text;
}
