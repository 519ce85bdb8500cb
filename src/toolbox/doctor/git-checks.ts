import { checkOf, type DoctorCheck } from './doctor-check.ts';
import type { DoctorDeps, DoctorOptions, DoctorStudio } from './doctor-deps.ts';

const githubHost = 'github.com';

/**
 * Studios built from github.com repositories: a clone of a private repository needs the workspace's
 * credential named `github.com`, named by the studio (remoteConfig.credentialsId). Berth cannot tell a
 * private repository from a public one without asking GitHub, so a missing credential is a warning; a
 * studio naming a credential that does not exist is an error (its clone fails).
 */
export async function githubCredentialChecks(deps: DoctorDeps, options: DoctorOptions, studios: DoctorStudio[]): Promise<DoctorCheck[]> {
  const fromGithub = studios.filter((studio) => hostOf(studio.definition.remoteConfig?.repository) === githubHost);
  const check = checkOf('github-credential', 'GitHub credential for studios built from github.com', 'warning');
  if (fromGithub.length === 0) return [check.pass('no studio is built from a github.com repository')];
  const ws = options.workspace.slug;
  const names = new Set((await deps.credentials(options.workspace.id)).map((record) => record.name));
  const addCredential = `printf '%s' "$GITHUB_TOKEN" | berth credentials add --workspace ${ws} --name ${githubHost} --provider github --user GITHUB_USER --password-stdin`;
  const useIt = (studio: DoctorStudio) =>
    `PUT /api/studios/${studio.sessionId}?workspaceId=${ws} {"remoteConfig": {"repository": "${studio.definition.remoteConfig!.repository}", "credentialsId": "${githubHost}"}}`;

  // a git credential is sent only to the host it is named after (src/api/git-sources.ts): another name fails the clone
  const missing = fromGithub.filter((studio) => {
    const named = studio.definition.remoteConfig!.credentialsId;
    return named && (named !== githubHost || !names.has(named));
  });
  const unnamed = fromGithub.filter((studio) => !studio.definition.remoteConfig!.credentialsId);
  const checks: DoctorCheck[] = [];
  if (missing.length > 0) {
    checks.push(
      checkOf('github-credential-missing', 'Credentials named by studios exist', 'error').problem(
        `${list(missing)} ${missing.length === 1 ? 'names a credential' : 'name credentials'} (${[...new Set(missing.map((studio) => studio.definition.remoteConfig!.credentialsId))].join(', ')}) that workspace ${ws} does not have as ${githubHost}: cloning fails (a git credential is named after its host)`,
        [...(names.has(githubHost) ? [] : [addCredential]), ...missing.filter((studio) => studio.definition.remoteConfig!.credentialsId !== githubHost).map(useIt)].join('\n'),
      ),
    );
  }
  if (unnamed.length === 0) {
    if (missing.length === 0) checks.push(check.pass(`${list(fromGithub)} clone with the workspace credential ${githubHost}`));
    return checks;
  }
  const message = `${list(unnamed)} clone github.com without a credential: fine for a public repository, a private one fails (Berth cannot tell which without asking GitHub)`;
  const steps = [...(names.has(githubHost) || missing.length > 0 ? [] : [addCredential]), ...unnamed.map(useIt)];
  checks.push(check.problem(message, steps.join('\n')));
  return checks;
}

function list(studios: DoctorStudio[]): string {
  return `${studios.length === 1 ? 'studio' : 'studios'} ${studios.map((studio) => studio.name).join(', ')}`;
}

function hostOf(repository: string | undefined): string | undefined {
  if (!repository) return undefined;
  try {
    return new URL(repository).host.toLowerCase();
  } catch {
    return undefined;
  }
}
