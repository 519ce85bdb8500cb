import type { Db } from '../../db/database.ts';
import { RegistryError } from '../errors.ts';
import { evaluateLifecycle, LifecyclePolicyError, parseLifecyclePolicy, type ExpiringImage } from '../policy/lifecycle-policy.ts';
import type { Repository, RepositoryIndex } from '../repository-index.ts';
import type { ImageCatalog, ImageDetail } from './image-catalog.ts';

export type ExpiringDetail = ExpiringImage & ImageDetail;

export interface LifecyclePreview {
  policyText: string;
  createdAt: number;
  expiring: ExpiringDetail[];
}

export interface LifecycleRunReport {
  repositories: number;
  expired: Array<{ repository: string; digest: string; tags: string[]; rulePriority: number }>;
  dryRun: boolean;
}

/**
 * ECR lifecycle policies: stored per repository, previewed without deleting, and applied on a
 * schedule or on demand. Children of an index are never expired on their own: they go with it.
 */
export class Lifecycle {
  constructor(
    private readonly db: Db,
    private readonly index: RepositoryIndex,
    private readonly catalog: ImageCatalog,
  ) {}

  /** Validates and stores a policy; InvalidParameter names the problem. */
  async put(repository: Repository, text: string): Promise<void> {
    parse(text);
    await this.index.update(repository.id, { lifecyclePolicyText: text });
  }

  get(repository: Repository): string {
    if (!repository.lifecyclePolicyText) throw notFound(repository);
    return repository.lifecyclePolicyText;
  }

  async delete(repository: Repository): Promise<string> {
    const text = this.get(repository);
    await this.index.update(repository.id, { lifecyclePolicyText: null });
    return text;
  }

  /** What `text` (default: the stored policy) would expire now; kept for GetLifecyclePolicyPreview. */
  async startPreview(repository: Repository, text?: string): Promise<LifecyclePreview> {
    const policyText = text ?? this.get(repository);
    const preview: LifecyclePreview = { policyText, createdAt: Date.now(), expiring: await this.expiring(repository, policyText) };
    const row = { policy_text: policyText, result: JSON.stringify(preview.expiring), created_at: preview.createdAt };
    await this.db
      .insertInto('lifecycle_previews')
      .values({ repository_id: repository.id, ...row })
      .onConflict((oc) => oc.column('repository_id').doUpdateSet(row))
      .execute();
    return preview;
  }

  async preview(repository: Repository): Promise<LifecyclePreview> {
    const row = await this.db.selectFrom('lifecycle_previews').selectAll().where('repository_id', '=', repository.id).executeTakeFirst();
    if (!row) throw new RegistryError('LifecyclePreviewNotFound', `There is no lifecycle policy preview for the repository '${repository.name}'`);
    return { policyText: row.policy_text, createdAt: row.created_at, expiring: JSON.parse(row.result) as ExpiringDetail[] };
  }

  /** Applies the policies of the given repositories (default: all that have one). */
  async run(options: { repositories?: Array<Repository & { fullName: string }>; dryRun?: boolean } = {}): Promise<LifecycleRunReport> {
    const targets = options.repositories ?? (await this.withPolicies());
    const report: LifecycleRunReport = { repositories: 0, expired: [], dryRun: options.dryRun ?? false };
    for (const repository of targets) {
      if (!repository.lifecyclePolicyText) continue;
      report.repositories++;
      for (const image of await this.expiring(repository, repository.lifecyclePolicyText)) {
        if (!report.dryRun) await this.catalog.delete(repository, [{ imageDigest: image.digest }]);
        report.expired.push({ repository: repository.fullName, digest: image.digest, tags: image.tags, rulePriority: image.rulePriority });
      }
    }
    return report;
  }

  private async expiring(repository: Repository, text: string): Promise<ExpiringDetail[]> {
    const policy = parse(text);
    const children = await this.catalog.childManifests(repository);
    const images = (await this.catalog.details(repository)).filter((image) => !children.has(image.digest));
    return evaluateLifecycle(policy, images, Date.now());
  }

  private async withPolicies(): Promise<Array<Repository & { fullName: string }>> {
    const rows = await this.db
      .selectFrom('repositories')
      .innerJoin('workspaces', 'workspaces.id', 'repositories.workspace_id')
      .select(['repositories.workspace_id', 'repositories.name', 'workspaces.slug'])
      .where('repositories.lifecycle_policy_text', 'is not', null)
      .execute();
    const found = [];
    for (const row of rows) {
      const repository = await this.index.find(row.workspace_id, row.name);
      if (repository) found.push({ ...repository, fullName: `${row.slug}/${row.name}` });
    }
    return found;
  }
}

function parse(text: string) {
  try {
    return parseLifecyclePolicy(text);
  } catch (error) {
    if (error instanceof LifecyclePolicyError) throw new RegistryError('InvalidParameter', `Invalid parameter at 'LifecyclePolicyText' failed to satisfy constraint: 'Lifecycle policy validation failure: ${error.message}'`);
    throw error;
  }
}

function notFound(repository: Repository): RegistryError {
  return new RegistryError('LifecyclePolicyNotFound', `Lifecycle policy does not exist for the repository with name '${repository.name}'`);
}
