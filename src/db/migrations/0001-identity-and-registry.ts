import { PostgresAdapter, sql, type ColumnDefinitionBuilder, type Kysely } from 'kysely';

/**
 * Names that are listed in order (tags, repositories, workspace slugs) compare byte by byte, as
 * the distribution spec's lexical paging expects: SQLite does so already; PostgreSQL needs "C".
 */
function bytewise(db: Kysely<unknown>): (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return (c) => (postgres ? c.modifyFront(sql`collate "C"`) : c);
}

export async function up(db: Kysely<unknown>): Promise<void> {
  const ms = 'bigint';
  const ordered = bytewise(db);
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('organizations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('workspaces')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('slug', 'text', (c) => ordered(c).notNull().unique())
    .addColumn('organization_id', 'text', (c) => c.references('organizations.id').onDelete('cascade'))
    .addColumn('personal_user_id', 'text', (c) => c.references('users.id').onDelete('cascade').unique())
    .addColumn('registry_id', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('memberships')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('memberships_pk', ['workspace_id', 'user_id'])
    .execute();
  await db.schema
    .createTable('api_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms)
    .addColumn('last_used_at', ms)
    .execute();

  await db.schema
    .createTable('repositories')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => ordered(c).notNull())
    .addColumn('is_public', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addUniqueConstraint('repositories_workspace_name', ['workspace_id', 'name'])
    .execute();
  await db.schema
    .createTable('blobs')
    .addColumn('digest', 'text', (c) => c.primaryKey())
    .addColumn('size', ms, (c) => c.notNull())
    .addColumn('touched_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('repository_blobs')
    .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('digest', 'text', (c) => c.notNull().references('blobs.digest').onDelete('cascade'))
    .addPrimaryKeyConstraint('repository_blobs_pk', ['repository_id', 'digest'])
    .execute();
  await db.schema.createIndex('repository_blobs_digest').on('repository_blobs').column('digest').execute();
  await db.schema
    .createTable('manifests')
    .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('digest', 'text', (c) => c.notNull())
    .addColumn('media_type', 'text', (c) => c.notNull())
    .addColumn('size', ms, (c) => c.notNull())
    .addColumn('artifact_type', 'text')
    .addColumn('subject_digest', 'text')
    .addColumn('annotations', 'text')
    .addColumn('pushed_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('manifests_pk', ['repository_id', 'digest'])
    .execute();
  await db.schema.createIndex('manifests_subject').on('manifests').columns(['repository_id', 'subject_digest']).execute();
  await db.schema.createIndex('manifests_digest').on('manifests').column('digest').execute();
  await db.schema
    .createTable('manifest_refs')
    .addColumn('repository_id', 'text', (c) => c.notNull())
    .addColumn('manifest_digest', 'text', (c) => c.notNull())
    .addColumn('digest', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('manifest_refs_pk', ['repository_id', 'manifest_digest', 'digest'])
    .addForeignKeyConstraint('manifest_refs_manifest', ['repository_id', 'manifest_digest'], 'manifests', ['repository_id', 'digest'], (c) => c.onDelete('cascade'))
    .execute();
  await db.schema.createIndex('manifest_refs_digest').on('manifest_refs').column('digest').execute();
  await db.schema
    .createTable('tags')
    .addColumn('repository_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => ordered(c).notNull())
    .addColumn('manifest_digest', 'text', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addPrimaryKeyConstraint('tags_pk', ['repository_id', 'name'])
    .addForeignKeyConstraint('tags_manifest', ['repository_id', 'manifest_digest'], 'manifests', ['repository_id', 'digest'], (c) => c.onDelete('cascade'))
    .execute();
  await db.schema
    .createTable('uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('repository_id', 'text', (c) => c.notNull().references('repositories.id').onDelete('cascade'))
    .addColumn('started_at', ms, (c) => c.notNull())
    .addColumn('touched_at', ms, (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['uploads', 'tags', 'manifest_refs', 'manifests', 'repository_blobs', 'blobs', 'repositories', 'api_tokens', 'memberships', 'workspaces', 'organizations', 'users']) {
    await db.schema.dropTable(table).execute();
  }
}
