import type { Kysely } from 'kysely';

/**
 * Registry management (the ECR-compatible API): repository settings and policies, ECR access
 * keys, stored credentials, pull-through cache rules, repository creation templates, lifecycle
 * previews, and what pull-through caching and lifecycle need to remember per tag and image.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ms = 'bigint';
  for (const [column, type, defaultValue] of [
    ['image_tag_mutability', 'text', 'MUTABLE'],
    ['scan_on_push', 'integer', 0],
    ['encryption_type', 'text', 'AES256'],
  ] as const) {
    await db.schema.alterTable('repositories').addColumn(column, type, (c) => c.notNull().defaultTo(defaultValue)).execute();
  }
  for (const column of ['kms_key', 'resource_tags', 'policy_text', 'lifecycle_policy_text', 'upstream_rule_id']) {
    await db.schema.alterTable('repositories').addColumn(column, 'text').execute();
  }
  await db.schema.alterTable('manifests').addColumn('last_pulled_at', ms).execute();
  await db.schema.alterTable('manifests').addColumn('scan_requested_at', ms).execute();
  await db.schema.alterTable('tags').addColumn('upstream_checked_at', ms).execute();

  await db.schema
    .createTable('access_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('last_used_at', ms)
    .execute();
  await db.schema
    .createTable('credentials')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('username', 'text')
    .addColumn('secret_sealed', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addUniqueConstraint('credentials_workspace_name', ['workspace_id', 'name'])
    .execute();
  await db.schema
    .createTable('registry_policies')
    .addColumn('workspace_id', 'text', (c) => c.primaryKey().references('workspaces.id').onDelete('cascade'))
    .addColumn('policy_text', 'text', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('pull_through_rules')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('upstream_url', 'text', (c) => c.notNull())
    .addColumn('upstream_registry', 'text', (c) => c.notNull())
    .addColumn('upstream_prefix', 'text')
    .addColumn('credential_name', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addUniqueConstraint('pull_through_rules_prefix', ['workspace_id', 'prefix'])
    .execute();
  await db.schema
    .createTable('creation_templates')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('prefix', 'text', (c) => c.notNull())
    .addColumn('definition', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('creation_templates_pk', ['workspace_id', 'prefix'])
    .execute();
  await db.schema
    .createTable('lifecycle_previews')
    .addColumn('repository_id', 'text', (c) => c.primaryKey().references('repositories.id').onDelete('cascade'))
    .addColumn('policy_text', 'text', (c) => c.notNull())
    .addColumn('result', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['lifecycle_previews', 'creation_templates', 'pull_through_rules', 'registry_policies', 'credentials', 'access_keys']) {
    await db.schema.dropTable(table).execute();
  }
}
