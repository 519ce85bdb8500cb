import { checkOf, type DoctorCheck } from './doctor-check.ts';
import type { DoctorComputeEnv, DoctorDeps, DoctorOptions, DoctorStudio } from './doctor-deps.ts';

/**
 * Compute environments: one check per environment (AVAILABLE, or INVALID with its reason), one that
 * the workspace has any, and one per studio whose environment cannot run it (a local environment runs
 * only templates with a host command). An environment's failure is reported on its own line only.
 */
export function computeChecks(deps: DoctorDeps, options: DoctorOptions, envs: DoctorComputeEnv[], studios: DoctorStudio[]): DoctorCheck[] {
  const ws = options.workspace.slug;
  const checks: DoctorCheck[] = [availabilityCheck(options, envs)];
  for (const env of envs) {
    const check = checkOf(`compute-env:${env.name}`, `Compute environment ${env.name} (${env.platform})`, 'error');
    if (env.status === 'AVAILABLE') {
      const note = env.platform === 'local' ? " (local: sessions run as Berth's own user on its host; only system administrators add these)" : '';
      checks.push(check.pass(`${env.name} is AVAILABLE${note}`));
      continue;
    }
    checks.push(
      check.problem(
        `${env.name} is ${env.status}: ${env.statusReason ?? 'its last check failed'}`,
        `${remedyOf(env)}, then re-check it: berth compute-envs check ${env.name} --workspace ${ws}\nor remove it: berth compute-envs delete ${env.name} --workspace ${ws}`,
      ),
    );
  }
  checks.push(...studioPlacementChecks(deps, options, envs, studios));
  return checks;
}

function availabilityCheck(options: DoctorOptions, envs: DoctorComputeEnv[]): DoctorCheck {
  const check = checkOf('compute-available', 'A compute environment that can run studios', 'error');
  const available = envs.filter((env) => env.status === 'AVAILABLE');
  if (available.length > 0) return check.pass(`available: ${available.map((env) => `${env.name} (${env.platform})`).join(', ')}`);
  if (envs.length > 0) return check.skip(`none of the workspace's compute environments is available (see ${envs.map((env) => `compute-env:${env.name}`).join(', ')})`);
  const ws = options.workspace.slug;
  const add = options.caller.isAdmin
    ? `berth compute-envs add --workspace ${ws} --platform local --name local   (local runs sessions as Berth's own user; give untrusted users docker or kubernetes)\nor: berth compute-envs add --workspace ${ws} --platform docker --name docker --socket /var/run/docker.sock`
    : `berth compute-envs add --workspace ${ws} --platform docker --name docker --socket /var/run/docker.sock   (a local environment only a system administrator may add)`;
  return check.problem(`workspace ${ws} has no compute environment: its studios cannot start`, add);
}

function remedyOf(env: DoctorComputeEnv): string {
  switch (env.platform) {
    case 'docker':
      return `start the Docker engine (or podman system service) listening on ${env.endpoint ?? 'the socket the environment names'}, readable by Berth's user`;
    case 'kubernetes':
      return `make the cluster's API server ${env.endpoint ?? ''} reachable from Berth and its token (the environment's credential${env.credentialName ? ` ${env.credentialName}` : ''}) valid`;
    case 'local':
      return 'install what the local runner needs on the Berth host (node for the agent, the templates\' tools)';
  }
}

/** Each studio's environment (its own, else the workspace's default) can run it. */
function studioPlacementChecks(deps: DoctorDeps, options: DoctorOptions, envs: DoctorComputeEnv[], studios: DoctorStudio[]): DoctorCheck[] {
  const fallback = envs.find((env) => env.status === 'AVAILABLE');
  const checks: DoctorCheck[] = [];
  for (const studio of studios) {
    const env = studio.computeEnvId ? envs.find((candidate) => candidate.id === studio.computeEnvId) : fallback;
    const check = checkOf(`studio-compute:${studio.name}`, `Studio ${studio.name} can run on its compute environment`, 'error');
    if (!env) {
      if (studio.computeEnvId) {
        checks.push(check.problem(`studio ${studio.name} names a compute environment that no longer exists`, `choose another: berth compute-envs list --workspace ${options.workspace.slug}, then PUT /api/studios/${studio.sessionId} {"computeEnvId": "<name or id>"}`));
      }
      continue; // no environment at all: reported by compute-available
    }
    if (env.platform !== 'local') continue;
    const hostCommand = hostCommandOf(deps, studio);
    if (hostCommand) {
      checks.push(check.pass(`studio ${studio.name} runs on ${env.name} with its template's host command`));
      continue;
    }
    const what = studio.definition.remoteConfig ? 'its image is built from a repository' : `its image ${studio.definition.image ?? studio.definition.templateKey ?? ''} has no host command`;
    checks.push(
      check.problem(
        `studio ${studio.name} runs on the local compute environment ${env.name}, which runs only templates with a host command; ${what}`,
        `run it on a docker or kubernetes compute environment: PUT /api/studios/${studio.sessionId} {"computeEnvId": "<docker or kubernetes environment>"}`,
      ),
    );
  }
  return checks;
}

function hostCommandOf(deps: DoctorDeps, studio: DoctorStudio): string[] | null {
  if (studio.definition.remoteConfig) return null;
  const key = studio.definition.templateKey ?? studio.definition.image;
  if (!key) return null;
  const templates = deps.templates();
  const template = templates.find((candidate) => candidate.key === key) ?? templates.find((candidate) => candidate.versions.some((version) => version.image === key));
  return template?.hostCommand ?? null;
}
