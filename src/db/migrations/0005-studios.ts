import type { Kysely } from 'kysely';

/**
 * Studios: compute environments (where sessions run), per-workspace Studios settings, studios (saved
 * definitions, keyed by their session id, which is also their connect session's id) and the events of
 * their sessions (`progress[]`, server-sent events). Credentials gain a provider's non-secret fields.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ms = 'bigint';
  await db.schema.alterTable('credentials').addColumn('fields', 'text').execute();
  await db.schema.alterTable('credentials').addColumn('updated_at', ms).execute();
  await db.schema
    .createTable('compute_envs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('platform', 'text', (c) => c.notNull())
    .addColumn('config', 'text', (c) => c.notNull())
    .addColumn('credential_name', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_reason', 'text')
    .addColumn('checked_at', ms)
    .addColumn('created_by', 'text', (c) => c.references('users.id').onDelete('set null'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addUniqueConstraint('compute_envs_workspace_name', ['workspace_id', 'name'])
    .execute();
  await db.schema
    .createTable('workspace_settings')
    .addColumn('workspace_id', 'text', (c) => c.primaryKey().references('workspaces.id').onDelete('cascade'))
    .addColumn('studios', 'text', (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('studios')
    .addColumn('session_id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('definition', 'text', (c) => c.notNull())
    .addColumn('compute_env_id', 'text', (c) => c.references('compute_envs.id').onDelete('set null'))
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('status_message', 'text')
    .addColumn('stop_reason', 'text')
    .addColumn('status_at', ms, (c) => c.notNull())
    .addColumn('run', 'text')
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('updated_at', ms, (c) => c.notNull())
    .addColumn('last_started_at', ms)
    .addUniqueConstraint('studios_workspace_name', ['workspace_id', 'name'])
    .execute();
  await db.schema.createIndex('studios_by_status').on('studios').column('status').execute();
  await db.schema
    .createTable('studio_events')
    .addColumn('session_id', 'text', (c) => c.notNull().references('studios.session_id').onDelete('cascade'))
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('at', ms, (c) => c.notNull())
    .addColumn('step', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('studio_events_pk', ['session_id', 'seq'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['studio_events', 'studios', 'workspace_settings', 'compute_envs']) await db.schema.dropTable(table).execute();
  await db.schema.alterTable('credentials').dropColumn('updated_at').execute();
  await db.schema.alterTable('credentials').dropColumn('fields').execute();
}
