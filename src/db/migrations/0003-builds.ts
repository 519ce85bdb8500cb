import type { Kysely } from 'kysely';

/**
 * The builder: one row per build (the id names everything that determines the image, plus an
 * attempt number). Logs live in files beside the build's context, not in the database.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ms = 'bigint';
  await db.schema
    .createTable('builds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('container_id', 'text', (c) => c.notNull())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('credential_kind', 'text', (c) => c.notNull())
    .addColumn('credential_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('executor', 'text')
    .addColumn('target_image', 'text', (c) => c.notNull())
    .addColumn('push_local', 'integer', (c) => c.notNull())
    .addColumn('push_image', 'text', (c) => c.notNull())
    .addColumn('dockerfile', 'text', (c) => c.notNull())
    .addColumn('conda_file', 'text')
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('context_digest', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('started_at', ms)
    .addColumn('finished_at', ms)
    .addColumn('digest', 'text')
    .addColumn('exit_status', 'integer')
    .addColumn('error_report', 'text')
    .execute();
  await db.schema.createIndex('builds_by_container').on('builds').columns(['container_id', 'created_at']).execute();
  await db.schema.createIndex('builds_by_status').on('builds').column('status').execute();
  await db.schema.createIndex('builds_by_workspace').on('builds').columns(['workspace_id', 'created_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('builds').execute();
}
