import { agentVersionChecks } from './agent-version-checks.ts';
import { computeChecks } from './compute-checks.ts';
import { summarise, type DoctorCheck, type DoctorSummary } from './doctor-check.ts';
import type { DoctorDeps, DoctorOptions, DoctorStudio } from './doctor-deps.ts';
import { githubCredentialChecks } from './git-checks.ts';
import { pullThroughChecks } from './pull-through-checks.ts';
import { containerRepositoryCheck, pullAccessChecks, pushCredentialsCheck, regionCheck, studiosEnabledCheck } from './repository-checks.ts';
import { studioDomainChecks } from './studio-domain-checks.ts';

export interface DoctorReport {
  workspace: string;
  checks: DoctorCheck[];
  summary: DoctorSummary;
  /** False when an error-level check failed. */
  ok: boolean;
}

/**
 * The verification checklist of a workspace's Studios setup, each problem reported once with its fix:
 * a check that depends on a failed one is skipped, naming it. When Studios are not enabled for the
 * workspace, that is the only thing that matters, and the workspace's own checks are skipped.
 */
export async function runDoctor(deps: DoctorDeps, options: DoctorOptions): Promise<DoctorReport> {
  const { workspace } = options;
  const enabled = studiosEnabledCheck(deps, workspace);
  const checks: DoctorCheck[] = [enabled];
  if (enabled.status === 'pass') {
    const [envs, studios] = await Promise.all([deps.computeEnvs(workspace.id), visibleStudios(deps, options)]);
    const repository = await containerRepositoryCheck(deps, workspace);
    checks.push(repository.check, await pushCredentialsCheck(deps, options, repository.facts));
    checks.push(...computeChecks(deps, options, envs, studios));
    checks.push(...(await pullAccessChecks(deps, options, repository.facts, envs)), regionCheck(repository.facts, envs));
    checks.push(...(await githubCredentialChecks(deps, options, studios)));
    checks.push(...(await pullThroughChecks(deps, options)));
  }
  checks.push(...(await studioDomainChecks(deps)), ...agentVersionChecks(deps));
  return { workspace: workspace.slug, checks, ...summarise(checks) };
}

/** Studios the caller may see: a private studio is its creator's alone (others do not learn it exists). */
async function visibleStudios(deps: DoctorDeps, options: DoctorOptions): Promise<DoctorStudio[]> {
  const studios = await deps.studios(options.workspace.id);
  return studios.filter((studio) => !studio.definition.isPrivate || studio.userId === options.caller.userId);
}
