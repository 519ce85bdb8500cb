import type { Db } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import { RegistryError } from '../errors.ts';
import { LifecyclePolicyError, parseLifecyclePolicy } from '../policy/lifecycle-policy.ts';
import { parsePolicy, PolicyError } from '../policy/iam-policy.ts';
import type { RepositorySettings } from '../repository-index.ts';

export type TemplateUse = 'PULL_THROUGH_CACHE' | 'REPLICATION' | 'CREATE_ON_PUSH';

/** ECR's repository creation template, with ECR's field names. */
export interface TemplateDefinition {
  description?: string;
  encryptionConfiguration?: { encryptionType: 'AES256' | 'KMS'; kmsKey?: string };
  resourceTags?: Array<{ Key: string; Value: string }>;
  imageTagMutability?: 'MUTABLE' | 'IMMUTABLE';
  repositoryPolicy?: string;
  lifecyclePolicy?: string;
  appliedFor: TemplateUse[];
  customRoleArn?: string;
}

export interface CreationTemplate extends TemplateDefinition {
  prefix: string;
  createdAt: number;
  updatedAt: number;
}

/**
 * Repository creation templates: the settings a repository gets when Berth creates it for a
 * pull-through cache or a first push, chosen by the longest matching prefix, else `ROOT`.
 */
export class CreationTemplates {
  constructor(private readonly db: Db) {}

  async create(workspace: Workspace, prefix: string, definition: TemplateDefinition): Promise<CreationTemplate> {
    validate(prefix, definition);
    const now = Date.now();
    try {
      await this.db.insertInto('creation_templates').values({ workspace_id: workspace.id, prefix, definition: JSON.stringify(definition), created_at: now, updated_at: now }).execute();
    } catch (error) {
      if (isUniqueViolation(error)) throw new RegistryError('TemplateAlreadyExists', `The repository creation template with prefix '${prefix}' already exists in the registry with id '${workspace.registryId}'`);
      throw error;
    }
    return { prefix, ...definition, createdAt: now, updatedAt: now };
  }

  async update(workspace: Workspace, prefix: string, changes: Partial<TemplateDefinition>): Promise<CreationTemplate> {
    const current = await this.get(workspace, prefix);
    const { createdAt, ...definition } = { ...current, ...changes };
    validate(prefix, definition);
    const updatedAt = Date.now();
    const stored: TemplateDefinition = withoutKeys(definition, ['prefix', 'updatedAt']);
    await this.db.updateTable('creation_templates').set({ definition: JSON.stringify(stored), updated_at: updatedAt }).where('workspace_id', '=', workspace.id).where('prefix', '=', prefix).execute();
    return { prefix, ...stored, createdAt, updatedAt };
  }

  async list(workspace: Workspace): Promise<CreationTemplate[]> {
    const rows = await this.db.selectFrom('creation_templates').selectAll().where('workspace_id', '=', workspace.id).orderBy('prefix').execute();
    return rows.map(toTemplate);
  }

  async get(workspace: Workspace, prefix: string): Promise<CreationTemplate> {
    const row = await this.db.selectFrom('creation_templates').selectAll().where('workspace_id', '=', workspace.id).where('prefix', '=', prefix).executeTakeFirst();
    if (!row) throw new RegistryError('TemplateNotFound', `The repository creation template with prefix '${prefix}' does not exist in the registry with id '${workspace.registryId}'`);
    return toTemplate(row);
  }

  async delete(workspace: Workspace, prefix: string): Promise<CreationTemplate> {
    const template = await this.get(workspace, prefix);
    await this.db.deleteFrom('creation_templates').where('workspace_id', '=', workspace.id).where('prefix', '=', prefix).execute();
    return template;
  }

  /** Settings for a repository Berth creates at `path` for `use`, from the best-matching template. */
  async settingsFor(workspaceId: string, path: string, use: TemplateUse): Promise<Partial<RepositorySettings>> {
    const rows = await this.db.selectFrom('creation_templates').selectAll().where('workspace_id', '=', workspaceId).execute();
    const template = rows
      .map(toTemplate)
      .filter((t) => t.appliedFor.includes(use) && (t.prefix === 'ROOT' || path === t.prefix || path.startsWith(`${t.prefix}/`)))
      .sort((a, b) => (b.prefix === 'ROOT' ? -1 : b.prefix.length) - (a.prefix === 'ROOT' ? -1 : a.prefix.length))[0];
    if (!template) return {};
    return {
      ...(template.imageTagMutability ? { imageTagMutability: template.imageTagMutability } : {}),
      ...(template.encryptionConfiguration ? { encryptionType: template.encryptionConfiguration.encryptionType, kmsKey: template.encryptionConfiguration.kmsKey ?? null } : {}),
      ...(template.resourceTags ? { resourceTags: template.resourceTags } : {}),
      ...(template.repositoryPolicy ? { policyText: template.repositoryPolicy } : {}),
      ...(template.lifecyclePolicy ? { lifecyclePolicyText: template.lifecyclePolicy } : {}),
    };
  }
}

function validate(prefix: string, definition: TemplateDefinition): void {
  if (prefix !== 'ROOT' && !/^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/.test(prefix)) {
    throw new RegistryError('InvalidParameter', `Invalid parameter at 'prefix': "${prefix.slice(0, 100)}" must be ROOT or a repository name prefix`);
  }
  if (!definition.appliedFor.length) throw new RegistryError('InvalidParameter', "Invalid parameter at 'appliedFor': name at least one of PULL_THROUGH_CACHE, REPLICATION, CREATE_ON_PUSH");
  try {
    if (definition.repositoryPolicy) parsePolicy(definition.repositoryPolicy, 'repository');
    if (definition.lifecyclePolicy) parseLifecyclePolicy(definition.lifecyclePolicy);
  } catch (error) {
    if (error instanceof PolicyError) throw new RegistryError('InvalidParameter', `Invalid parameter at 'repositoryPolicy': ${error.message}`);
    if (error instanceof LifecyclePolicyError) throw new RegistryError('InvalidParameter', `Invalid parameter at 'lifecyclePolicy': ${error.message}`);
    throw error;
  }
}

function toTemplate(row: { prefix: string; definition: string; created_at: number; updated_at: number }): CreationTemplate {
  return { prefix: row.prefix, ...(JSON.parse(row.definition) as TemplateDefinition), createdAt: row.created_at, updatedAt: row.updated_at };
}

function withoutKeys<T extends object>(value: T, keys: string[]): T {
  return Object.fromEntries(Object.entries(value).filter(([key]) => !keys.includes(key))) as T;
}
