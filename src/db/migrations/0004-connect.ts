import type { Kysely } from 'kysely';

/**
 * Connect: one row per session that an agent may attach to (who may reach it, the agent's token hash and
 * what the agent last reported), and the platform's web logins (browser sessions of the login page).
 * Which server holds a session's tunnel is not here: that is ephemeral route state (memory or Redis).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const ms = 'bigint';
  await db.schema
    .createTable('connect_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('is_private', 'integer', (c) => c.notNull())
    .addColumn('agent_token_hash', 'text', (c) => c.notNull())
    .addColumn('agent_status', 'text', (c) => c.notNull())
    .addColumn('exit_code', 'integer')
    .addColumn('status_at', ms, (c) => c.notNull())
    .addColumn('last_activity_at', ms)
    .addColumn('created_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('connect_sessions_by_workspace').on('connect_sessions').columns(['workspace_id', 'created_at']).execute();
  await db.schema
    .createTable('web_logins')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .execute();
  await db.schema.createIndex('web_logins_by_user').on('web_logins').column('user_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('web_logins').execute();
  await db.schema.dropTable('connect_sessions').execute();
}
