import type { Db } from '../../db/database.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import { RegistryError } from '../errors.ts';
import { parsePolicy, PolicyError, type PolicyDocument, type PolicyKind } from '../policy/iam-policy.ts';
import type { Repository, RepositoryIndex } from '../repository-index.ts';

const cacheLimit = 1_000;

/**
 * Repository policies and registry (workspace) policies: validated IAM-style JSON, stored as the
 * text the user gave, parsed once per distinct text for evaluation.
 */
export class Policies {
  private readonly parsed = new Map<string, PolicyDocument>();

  constructor(
    private readonly db: Db,
    private readonly index: RepositoryIndex,
  ) {}

  /** The parsed form of a stored policy text (cached; stored texts were valid when stored). */
  document(text: string, kind: PolicyKind): PolicyDocument {
    const key = `${kind}:${text}`;
    const cached = this.parsed.get(key);
    if (cached) return cached;
    const document = parsePolicy(text, kind);
    if (this.parsed.size >= cacheLimit) this.parsed.delete(this.parsed.keys().next().value!);
    this.parsed.set(key, document);
    return document;
  }

  async setRepositoryPolicy(repository: Repository, text: string): Promise<void> {
    validate(text, 'repository');
    await this.index.update(repository.id, { policyText: text });
  }

  repositoryPolicy(repository: Repository): string {
    if (!repository.policyText) {
      throw new RegistryError('RepositoryPolicyNotFound', `Repository policy does not exist for the repository with name '${repository.name}'`);
    }
    return repository.policyText;
  }

  async deleteRepositoryPolicy(repository: Repository): Promise<string> {
    const text = this.repositoryPolicy(repository);
    await this.index.update(repository.id, { policyText: null });
    return text;
  }

  async putRegistryPolicy(workspace: Workspace, text: string): Promise<void> {
    validate(text, 'registry');
    const row = { policy_text: text, updated_at: Date.now() };
    await this.db
      .insertInto('registry_policies')
      .values({ workspace_id: workspace.id, ...row })
      .onConflict((oc) => oc.column('workspace_id').doUpdateSet(row))
      .execute();
  }

  async registryPolicy(workspace: Workspace): Promise<string> {
    const row = await this.db.selectFrom('registry_policies').select('policy_text').where('workspace_id', '=', workspace.id).executeTakeFirst();
    if (!row) throw new RegistryError('RegistryPolicyNotFound', `Registry policy does not exist in the registry with id '${workspace.registryId}'`);
    return row.policy_text;
  }

  async deleteRegistryPolicy(workspace: Workspace): Promise<string> {
    const text = await this.registryPolicy(workspace);
    await this.db.deleteFrom('registry_policies').where('workspace_id', '=', workspace.id).execute();
    return text;
  }
}

function validate(text: string, kind: PolicyKind): void {
  try {
    parsePolicy(text, kind);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    throw new RegistryError('InvalidParameter', `Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid ${kind} policy provided: ${error.message}'`);
  }
}
