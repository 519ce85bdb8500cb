import { scopeAllows, type TokenScope } from '../../identity/api-tokens.ts';
import type { IdentityStore, User } from '../../identity/identity-store.ts';
import { roleAtLeast, type Role } from '../../identity/roles.ts';
import { isValidName, parseRepositoryName, type RepositoryName } from '../names.ts';
import type { CatalogFilter, RepositoryIndex } from '../repository-index.ts';
import type { MountSource } from '../registry.ts';
import type { AccessClaims, CredentialRef } from './registry-tokens.ts';
import { grants, repositoryActions, type AccessEntry, type RepositoryAction } from './scope.ts';
import type { Policies } from '../management/policies.ts';
import { pullActions, pushActions } from '../policy/ecr-actions.ts';
import { evaluatePolicy, type PolicyDecision } from '../policy/iam-policy.ts';

/** Who is asking, as the registry sees it. */
export type Principal =
  | { kind: 'anonymous' }
  /** HTTP basic auth (an API token, or an ECR login): the user's rights, narrowed by the credential's scopes. */
  | { kind: 'user'; user: User; scopes: TokenScope[]; credential: CredentialRef }
  /** A registry bearer token: exactly the access it was issued with. */
  | { kind: 'bearer'; claims: AccessClaims };

/** A user with the scopes that narrow their rights (API token scopes). */
export interface Actor {
  user: User;
  scopes: TokenScope[];
}

/** Minimum workspace role for each repository action. */
const minimumRole: Record<RepositoryAction, Role> = { pull: 'view', push: 'maintain', delete: 'maintain' };

/** The ECR actions a policy must allow (all of them) for each registry action. */
const policyActions: Record<RepositoryAction, readonly string[]> = { pull: pullActions, push: pushActions, delete: ['ecr:BatchDeleteImage'] };

/** API token scopes only ever narrow a user's rights. */
function narrow(allowed: Set<RepositoryAction>, actor: Actor): Set<RepositoryAction> {
  for (const action of allowed) {
    if (!scopeAllows(actor.scopes, action === 'pull' ? 'registry:pull' : 'registry:push')) allowed.delete(action);
  }
  return allowed;
}

/**
 * Decides what a principal may do to a repository: members by workspace role (pull: view+,
 * push and delete: maintain+), anyone may pull a public repository, repository policies grant
 * and deny (Deny wins), the system admin may do everything. API token scopes only ever narrow a
 * user's rights.
 */
export class RegistryAccess {
  constructor(
    private readonly identity: IdentityStore,
    private readonly index: RepositoryIndex,
    private readonly policies: Policies,
    /** The region in repository ARNs that policies name. */
    private readonly region: string,
  ) {}

  /**
   * The actions `actor` (undefined: anonymous) may perform on `name`: by workspace role, pull
   * when the repository is public, then the repository's policy, whose explicit Deny wins over
   * everything and whose Allow grants users of other workspaces.
   */
  async allowedActions(actor: Actor | undefined, name: RepositoryName): Promise<Set<RepositoryAction>> {
    const allowed = new Set<RepositoryAction>();
    const workspace = await this.identity.findWorkspace(name.workspace);
    if (!workspace) return allowed;
    const repository = await this.index.find(workspace.id, name.path);
    if (actor?.user.isAdmin) return narrow(new Set(repositoryActions), actor);
    const role = actor ? await this.identity.roleOf(actor.user.id, workspace.id) : undefined;
    for (const action of repositoryActions) if (roleAtLeast(role, minimumRole[action])) allowed.add(action);
    if (repository?.isPublic) allowed.add('pull');
    if (actor && repository?.policyText) {
      const decide = await this.policyJudge(actor, repository.policyText, `arn:aws:ecr:${this.region}:${workspace.registryId}:repository/${repository.name}`);
      for (const action of repositoryActions) {
        const decision = decide(policyActions[action]);
        if (decision === 'deny') allowed.delete(action);
        if (decision === 'allow') allowed.add(action);
      }
    }
    return actor ? narrow(allowed, actor) : allowed;
  }

  /** Decides groups of ECR actions for `actor` under a repository policy: any Deny denies, all Allow allows. */
  private async policyJudge(actor: Actor, policyText: string, resource: string): Promise<(actions: readonly string[]) => PolicyDecision> {
    const document = this.policies.document(policyText, 'repository');
    const accounts = (await this.identity.workspacesOf(actor.user.id)).map((w) => w.registryId);
    const caller = { aws: accounts.map((account) => `arn:aws:iam::${account}:user/${actor.user.name}`) };
    const context = { 'aws:username': actor.user.name, 'aws:PrincipalAccount': accounts };
    return (actions) => {
      const decisions = actions.map((action) => evaluatePolicy(document, { caller, action, resource, context }));
      if (decisions.includes('deny')) return 'deny';
      return decisions.every((d) => d === 'allow') ? 'allow' : 'none';
    };
  }

  /** Whether the principal may perform `action` on `name`. */
  async may(principal: Principal, name: RepositoryName, action: RepositoryAction): Promise<boolean> {
    if (principal.kind === 'bearer') return grants(principal.claims.access, 'repository', name.full, action);
    return (await this.allowedActions(principal.kind === 'user' ? principal : undefined, name)).has(action);
  }

  /**
   * What a token request may receive: each requested repository scope narrowed to the allowed
   * actions, `registry:catalog:*` for signed-in users. Scopes granting nothing are left out.
   */
  async grant(actor: Actor | undefined, requested: AccessEntry[]): Promise<AccessEntry[]> {
    const granted: AccessEntry[] = [];
    for (const entry of requested) {
      if (entry.type === 'registry' && entry.name === 'catalog' && actor) {
        granted.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (entry.type !== 'repository' || !isValidName(entry.name) || !entry.name.includes('/')) continue;
      const allowed = await this.allowedActions(actor, parseRepositoryName(entry.name));
      const actions = entry.actions.includes('*') ? [...allowed] : entry.actions.filter((a) => allowed.has(a as RepositoryAction));
      if (actions.length) granted.push({ type: 'repository', name: entry.name, actions });
    }
    return granted;
  }

  /** The user behind a principal, with the scopes that narrow them; undefined when anonymous. */
  async actorOf(principal: Principal): Promise<Actor | undefined> {
    if (principal.kind === 'user') return principal;
    if (principal.kind === 'bearer' && principal.claims.userId) {
      const user = await this.identity.findUserById(principal.claims.userId);
      return user && { user, scopes: ['registry:pull'] };
    }
    return undefined;
  }

  /** Which repositories the principal may list in the catalog. */
  async catalogFilter(principal: Principal): Promise<CatalogFilter> {
    const actor = await this.actorOf(principal);
    if (actor?.user.isAdmin) return { everything: true };
    const workspaces = actor ? await this.identity.workspacesOf(actor.user.id) : [];
    return { workspaceIds: workspaces.filter((w) => roleAtLeast(w.role, 'view')).map((w) => w.id), includePublic: true };
  }

  /**
   * Mount sources the principal may read, so that a mount never reveals another workspace's blob.
   * A bearer token is held to the repositories it was granted pull on, not to its user's rights.
   */
  async readableSources(principal: Principal, sources: MountSource[]): Promise<MountSource[]> {
    if (principal.kind === 'bearer') return sources.filter((source) => grants(principal.claims.access, 'repository', source.fullName, 'pull'));
    const actor = await this.actorOf(principal);
    if (actor?.user.isAdmin) return sources;
    const memberOf = new Set(actor ? (await this.identity.workspacesOf(actor.user.id)).map((w) => w.id) : []);
    return sources.filter((source) => source.isPublic || memberOf.has(source.workspaceId));
  }
}
