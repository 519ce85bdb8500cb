import { isValidName, splitRegistryHost } from '../../registry/names.ts';
import { pullActions, pushActions } from '../../registry/policy/ecr-actions.ts';
import { evaluatePolicy } from '../../registry/policy/iam-policy.ts';
import { checkOf, shellQuote, type DoctorCheck } from './doctor-check.ts';
import type { DoctorComputeEnv, DoctorDeps, DoctorOptions, DoctorWorkspace } from './doctor-deps.ts';

/** Where the workspace's studio images go, as the later checks need it. */
export interface ContainerRepositoryFacts {
  /** As the setting gives it. */
  uri: string;
  /** The registry host (Berth's shown host for its own registry). */
  host: string;
  /** In Berth's own registry: the workspace and the path inside it. */
  own: { workspaceSlug: string; path: string } | undefined;
  /** The registry's region when known: Amazon ECR's from its host name, Berth's from its configuration. */
  region: string | undefined;
}

const ecrHost = /^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/** Whether studios may be used at all: without that, nothing else matters. */
export function studiosEnabledCheck(deps: DoctorDeps, workspace: DoctorWorkspace): DoctorCheck {
  const check = checkOf('studios-enabled', 'Studios enabled for the workspace', 'error');
  if (deps.studiosEnabled(workspace)) return check.pass(`workspace ${workspace.slug} may use Studios`);
  return check.problem(
    `Studios are not enabled for workspace "${workspace.slug}": studios.allowedWorkspaces leaves it out`,
    `add it to the configuration: studios.allowedWorkspaces: [..., "${workspace.slug}"]  (or null for every workspace), then restart Berth`,
  );
}

/** The Studios container repository: set, and a valid repository reference. */
export async function containerRepositoryCheck(deps: DoctorDeps, workspace: DoctorWorkspace): Promise<{ check: DoctorCheck; facts?: ContainerRepositoryFacts }> {
  const check = checkOf('container-repository', 'Container repository for studio images', 'error');
  const settingFix = (example: string) => `berth workspaces settings set ${workspace.slug} --container-repository ${example}`;
  const uri = await deps.containerRepository(workspace);
  if (!uri) {
    return { check: check.problem('Attribute `buildRepository` must be specified when using freeze mode: the workspace has no Studios container repository', settingFix(`${deps.ownRegistryHosts()[0]}/${workspace.slug}/studios`)) };
  }
  const facts = repositoryFacts(deps, uri);
  if (!facts) return { check: check.problem(`the Studios container repository "${uri}" is not a repository in Berth's registry: it needs a workspace component, as in <workspace>/studios`, settingFix(`${workspace.slug}/studios`)) };
  const where = facts.own ? `Berth's own registry (workspace ${facts.own.workspaceSlug})` : facts.host;
  return { check: check.pass(`studio images are built into ${uri}, in ${where}`), facts };
}

function repositoryFacts(deps: DoctorDeps, uri: string): ContainerRepositoryFacts | undefined {
  const { registry, path } = splitRegistryHost(uri);
  const ownHosts = deps.ownRegistryHosts();
  if (registry === undefined || ownHosts.includes(registry)) {
    const slash = path.indexOf('/');
    if (slash < 0 || !isValidName(path)) return undefined;
    return { uri, host: ownHosts[0]!, own: { workspaceSlug: path.slice(0, slash), path: path.slice(slash + 1) }, region: deps.registryRegion };
  }
  return { uri, host: registry, own: undefined, region: ecrHost.exec(registry)?.[1] };
}

/**
 * Builds push to another registry with the workspace credential named after its host (as Wave's
 * `Missing credentials for container repository`); to Berth's own with the starting user's rights: in
 * another workspace's repository that takes the maintain role there, or a policy letting this workspace push.
 */
export async function pushCredentialsCheck(deps: DoctorDeps, options: DoctorOptions, facts: ContainerRepositoryFacts | undefined): Promise<DoctorCheck> {
  const { workspace } = options;
  const check = checkOf('push-credentials', 'Push credentials for the container repository', 'error');
  if (!facts) return check.skip('no usable container repository (see container-repository)');
  if (facts.own) return ownRegistryPushCheck(deps, options, facts, facts.own);
  const records = await deps.credentials(workspace.id);
  if (records.some((record) => record.name === facts.host)) return check.pass(`workspace credential ${facts.host} logs builds in to ${facts.host}`);
  return check.problem(
    `Missing credentials for container repository: ${facts.uri} (builds log in with the workspace credential named after the registry host, ${facts.host})`,
    `printf '%s' "$REGISTRY_PASSWORD" | berth credentials add --workspace ${workspace.slug} --name ${facts.host} --provider container-reg --registry ${facts.host} --user REGISTRY_USER --password-stdin`,
  );
}

async function ownRegistryPushCheck(deps: DoctorDeps, options: DoctorOptions, facts: ContainerRepositoryFacts, own: { workspaceSlug: string; path: string }): Promise<DoctorCheck> {
  const { workspace, caller } = options;
  const check = checkOf('push-credentials', 'Push credentials for the container repository', 'warning');
  if (own.workspaceSlug === workspace.slug) return check.pass(`${facts.uri} is in this workspace's registry: builds push with the rights of the user who starts the studio (maintain role)`);
  const owner = await deps.findWorkspace(own.workspaceSlug);
  if (!owner) return check.skip(`workspace ${own.workspaceSlug} does not exist (see pull-access)`);
  const repository = await deps.repository(owner.id, own.path);
  const decision = repository?.policyText ? workspaceDecision(deps, repository.policyText, workspace, owner, own.path, pushActions) : 'none';
  if (decision === 'allow') return check.pass(`the repository policy of ${facts.uri} lets workspace ${workspace.slug} push`);
  const statement = { ...grantStatement(workspace, 'Push'), Action: [...new Set([...pullActions, ...pushActions])] };
  const existingPolicy = caller.isAdmin || (await caller.mayView(owner.id)) ? (repository?.policyText ?? null) : null;
  return check.problem(
    `builds of ${workspace.slug}'s studios push to ${facts.uri} as the user who starts them: only members of ${owner.slug} with the maintain role may${decision === 'deny' ? ', and its repository policy denies pushes to this workspace' : ''}`,
    decision === 'deny'
      ? `an admin of workspace ${owner.slug} removes the Deny statement that covers account ${workspace.registryId} (berth registry policy get ${own.path} --workspace ${owner.slug})`
      : grantFix(deps, { statement, actions: 'push', owner, path: own.path, exists: repository !== undefined, existingPolicy, workspace }),
  );
}

/**
 * Whether sessions can pull the images built into the repository. From Berth's own registry they pull
 * with the starting user's login, whatever the compute environment, so one check covers all of them:
 * in another workspace's registry that takes a repository policy letting this workspace's account pull.
 * From another registry each container compute environment needs a login for it.
 */
export async function pullAccessChecks(deps: DoctorDeps, options: DoctorOptions, facts: ContainerRepositoryFacts | undefined, envs: DoctorComputeEnv[]): Promise<DoctorCheck[]> {
  if (!facts) return [checkOf('pull-access', 'Pull access to the container repository', 'error').skip('no usable container repository (see container-repository)')];
  if (facts.own) return [await ownRegistryPullCheck(deps, options, facts, facts.own)];
  const records = await deps.credentials(options.workspace.id);
  return envs.map((env) => {
    const check = checkOf(`pull-access:${env.name}`, `Pull access from compute environment ${env.name}`, env.platform === 'kubernetes' ? 'warning' : 'error');
    if (env.platform === 'local') return check.skip(`compute environment ${env.name} is local: it runs the tools on the Berth host and pulls no image`);
    if (env.status !== 'AVAILABLE') return check.skip(`compute environment ${env.name} is not available (see compute-env:${env.name})`);
    if (env.platform === 'kubernetes') {
      return check.problem(
        `Berth gives kubernetes sessions a pull secret only for its own registry: the nodes of ${env.name} must be able to pull from ${facts.host} by themselves`,
        `give the cluster's nodes (or the namespace's default service account) a pull secret for ${facts.host}, or use a container repository in Berth's registry: berth workspaces settings set ${options.workspace.slug} --container-repository ${options.workspace.slug}/studios`,
      );
    }
    const credential = records.find((record) => record.name === env.credentialName);
    if (credential?.keys.registry === facts.host) return check.pass(`compute environment ${env.name} pulls from ${facts.host} with credential ${credential.name}`);
    const now = env.credentialName ? `its credential ${env.credentialName} is for ${credential?.keys.registry ?? 'another registry'}` : 'it has no registry credential';
    return check.problem(
      `compute environment ${env.name} cannot log in to ${facts.host} to pull studio images: ${now}`,
      `a docker environment's credential is fixed when it is made: add one with a credential for ${facts.host} and remove this one:\n` +
        `  printf '%s' "$REGISTRY_PASSWORD" | berth credentials add --workspace ${options.workspace.slug} --name ${facts.host}-pull --provider container-reg --registry ${facts.host} --user REGISTRY_USER --password-stdin\n` +
        `  berth compute-envs add --workspace ${options.workspace.slug} --platform docker --name ${env.name}-2 --credential ${facts.host}-pull\n` +
        `  berth compute-envs delete ${env.name} --workspace ${options.workspace.slug}`,
    );
  });
}

async function ownRegistryPullCheck(deps: DoctorDeps, options: DoctorOptions, facts: ContainerRepositoryFacts, own: { workspaceSlug: string; path: string }): Promise<DoctorCheck> {
  const { workspace, caller } = options;
  const check = checkOf('pull-access', 'Pull access to the container repository', 'error');
  if (own.workspaceSlug === workspace.slug) return check.pass(`${facts.uri} is in this workspace's registry: its members pull with their own rights`);
  const owner = await deps.findWorkspace(own.workspaceSlug);
  if (!owner) return check.problem(`${facts.uri} names workspace "${own.workspaceSlug}", which does not exist`, `berth workspaces settings set ${workspace.slug} --container-repository ${workspace.slug}/studios`);
  const repository = await deps.repository(owner.id, own.path);
  if (repository?.isPublic) return check.pass(`${facts.uri} is public: anyone may pull it`);
  const statement = grantStatement(workspace, 'Pull');
  const mayRead = caller.isAdmin || (await caller.mayView(owner.id));
  if (repository?.policyText) {
    const decision = workspaceDecision(deps, repository.policyText, workspace, owner, own.path, pullActions);
    if (decision === 'allow') return check.pass(`the repository policy of ${facts.uri} lets workspace ${workspace.slug} (account ${workspace.registryId}) pull`);
    if (decision === 'deny') {
      return check.problem(
        `the repository policy of ${facts.uri} denies pulls to workspace ${workspace.slug} (account ${workspace.registryId}); a Deny wins over every Allow`,
        `an admin of workspace ${owner.slug} removes the Deny statement that covers account ${workspace.registryId} (berth registry policy get ${own.path} --workspace ${owner.slug})`,
      );
    }
  }
  const exists = repository !== undefined;
  const why = !exists
    ? `${facts.uri} does not exist yet, so no repository policy lets workspace ${workspace.slug} pull from workspace ${owner.slug}`
    : `${facts.uri} is in workspace ${owner.slug}, and its repository policy does not let workspace ${workspace.slug} (account ${workspace.registryId}) pull`;
  return check.problem(why, grantFix(deps, { statement, actions: 'pull', owner, path: own.path, exists, existingPolicy: mayRead ? (repository?.policyText ?? null) : null, workspace }));
}

/** A statement that lets every member of `workspace` pull (docs/ecr.md "Repository policies"); push statements add the push actions. */
export function grantStatement(workspace: DoctorWorkspace, what: 'Pull' | 'Push'): { Sid: string; Effect: 'Allow'; Principal: { AWS: string }; Action: string[] } {
  return {
    Sid: `Allow${what}From${workspace.slug.replace(/[^A-Za-z0-9]/g, '')}`,
    Effect: 'Allow',
    Principal: { AWS: `arn:aws:iam::${workspace.registryId}:root` },
    Action: [...pullActions],
  };
}

/** What the repository policy says to every member of `workspace` about all of `actions`. */
function workspaceDecision(deps: DoctorDeps, policyText: string, workspace: DoctorWorkspace, owner: DoctorWorkspace, path: string, actions: readonly string[]): 'allow' | 'deny' | 'none' {
  const document = deps.policyDocument(policyText, 'repository');
  // ARNs name a repository inside its registry (workspace), as the registry judges policies
  const resource = `arn:aws:ecr:${deps.registryRegion ?? '*'}:${owner.registryId}:repository/${path}`;
  const caller = { aws: [`arn:aws:iam::${workspace.registryId}:root`] };
  const decisions = actions.map((action) => evaluatePolicy(document, { caller, action, resource, context: { 'aws:PrincipalAccount': [workspace.registryId] } }));
  if (decisions.includes('deny')) return 'deny';
  return decisions.every((decision) => decision === 'allow') ? 'allow' : 'none';
}

function grantFix(
  deps: DoctorDeps,
  grant: { statement: Record<string, unknown>; actions: 'pull' | 'push'; owner: DoctorWorkspace; path: string; exists: boolean; existingPolicy: string | null; workspace: DoctorWorkspace },
): string {
  const { owner, path } = grant;
  // set-repository-policy replaces the whole policy: keep what is there (when the caller may see it)
  const existing = grant.existingPolicy ? (JSON.parse(grant.existingPolicy) as { Version?: string; Statement?: unknown[] | unknown }) : undefined;
  const statements = existing?.Statement === undefined ? [] : Array.isArray(existing.Statement) ? existing.Statement : [existing.Statement];
  const policy = JSON.stringify({ Version: existing?.Version ?? '2012-10-17', Statement: [...statements, grant.statement] });
  const aws = (args: string) => `aws ecr ${args} --registry-id ${owner.registryId} --endpoint-url ${deps.ecrEndpoint()}${deps.registryRegion ? ` --region ${deps.registryRegion}` : ''}`;
  const lines = [
    `add this statement to the repository policy of ${owner.slug}/${path} (an admin of workspace ${owner.slug} does it):`,
    `  ${JSON.stringify(grant.statement)}`,
    grant.exists
      ? `with Berth: berth grant ${owner.slug}/${path} --principal ${grant.workspace.slug} --actions ${grant.actions}`
      : `with Berth: berth registry repos create ${path} --workspace ${owner.slug} && berth grant ${owner.slug}/${path} --principal ${grant.workspace.slug} --actions ${grant.actions}`,
    `or with the aws CLI (as an admin of ${owner.slug}):`,
  ];
  if (!grant.exists) lines.push(`  ${aws(`create-repository --repository-name ${path}`)}`);
  lines.push(`  ${aws(`set-repository-policy --repository-name ${path} --policy-text ${shellQuote(policy)}`)}`);
  if (grant.existingPolicy === null && grant.exists) lines.push(`  (merge the statement into the repository's current policy: set-repository-policy replaces it)`);
  lines.push('then run berth doctor again: each fix starts from the policy as it is then');
  return lines.join('\n');
}

/** Registry and compute in one region, where both have one (cross-region pulls are slow and cost transfer). */
export function regionCheck(facts: ContainerRepositoryFacts | undefined, envs: DoctorComputeEnv[]): DoctorCheck {
  const check = checkOf('region', 'Registry and compute in the same region', 'warning');
  if (!facts) return check.skip('no usable container repository (see container-repository)');
  const located = envs.filter((env) => env.region !== undefined);
  if (facts.region === undefined || located.length === 0) return check.skip(facts.region === undefined ? `the region of ${facts.host} is not known` : 'no compute environment has a known region');
  const elsewhere = located.filter((env) => env.region !== facts.region);
  if (elsewhere.length === 0) return check.pass(`${facts.host} and compute environments ${located.map((env) => env.name).join(', ')} are in ${facts.region}`);
  return check.problem(
    `${facts.host} is in ${facts.region} but ${elsewhere.map((env) => `${env.name} is in ${env.region}`).join(', ')}: every session start pulls across regions`,
    `use a container repository in ${elsewhere[0]!.region} (berth workspaces settings set … --container-repository <registry in ${elsewhere[0]!.region}>/<path>), or a compute environment in ${facts.region}`,
  );
}
