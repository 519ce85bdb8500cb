import type { Selectable, Transaction, Updateable } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Digest } from './digest.ts';
import { RegistryError } from './errors.ts';
import type { Repository, RepositorySettings } from './repository.ts';

/** How the repository index maps rows to records, and the small steps its transactions share. */

export function missingFrom(wanted: Digest[], found: Array<{ digest: string }>): Digest | undefined {
  const have = new Set(found.map((row) => row.digest));
  return wanted.find((digest) => !have.has(digest));
}

export async function requireTagFree(tx: Transaction<Database>, repository: Repository, tag: string, digest: Digest): Promise<void> {
  const current = await tx.selectFrom('tags').select('manifest_digest').where('repository_id', '=', repository.id).where('name', '=', tag).executeTakeFirst();
  if (current && current.manifest_digest !== digest) {
    throw new RegistryError('TagImmutable', `The image tag '${tag}' already exists in the '${repository.name}' repository and cannot be overwritten because the repository is immutable.`, {
      tag,
    });
  }
}

export async function upsertBlob(tx: Transaction<Database>, digest: Digest, size: number): Promise<void> {
  await tx
    .insertInto('blobs')
    .values({ digest, size, touched_at: Date.now() })
    .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: Date.now() }))
    .execute();
}

export async function link(tx: Transaction<Database>, repositoryId: string, digest: Digest): Promise<void> {
  await tx.insertInto('repository_blobs').values({ repository_id: repositoryId, digest }).onConflict((oc) => oc.doNothing()).execute();
}

type RepositoryRow = Selectable<Database['repositories']>;

export function toRepository(row: RepositoryRow): Repository {
  return {
    id: row.id,
    workspaceId: row.workspace_id,
    name: row.name,
    isPublic: row.is_public === 1,
    createdAt: row.created_at,
    imageTagMutability: row.image_tag_mutability === 'IMMUTABLE' ? 'IMMUTABLE' : 'MUTABLE',
    scanOnPush: row.scan_on_push === 1,
    encryptionType: row.encryption_type === 'KMS' ? 'KMS' : 'AES256',
    kmsKey: row.kms_key,
    resourceTags: row.resource_tags ? (JSON.parse(row.resource_tags) as RepositorySettings['resourceTags']) : [],
    policyText: row.policy_text,
    lifecyclePolicyText: row.lifecycle_policy_text,
    upstreamRuleId: row.upstream_rule_id,
  };
}

/** The columns for the given settings; absent settings are left out. */
export function toColumns(settings: Partial<RepositorySettings>): Updateable<Database['repositories']> {
  const columns: Updateable<Database['repositories']> = {};
  if (settings.imageTagMutability !== undefined) columns.image_tag_mutability = settings.imageTagMutability;
  if (settings.scanOnPush !== undefined) columns.scan_on_push = settings.scanOnPush ? 1 : 0;
  if (settings.encryptionType !== undefined) columns.encryption_type = settings.encryptionType;
  if (settings.kmsKey !== undefined) columns.kms_key = settings.kmsKey;
  if (settings.resourceTags !== undefined) columns.resource_tags = JSON.stringify(settings.resourceTags);
  if (settings.policyText !== undefined) columns.policy_text = settings.policyText;
  if (settings.lifecyclePolicyText !== undefined) columns.lifecycle_policy_text = settings.lifecyclePolicyText;
  if (settings.upstreamRuleId !== undefined) columns.upstream_rule_id = settings.upstreamRuleId;
  return columns;
}
