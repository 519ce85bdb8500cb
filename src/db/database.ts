import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration, type MigrationProvider, type SqliteDatabase as SqliteDialectDatabase } from 'kysely';
import type { Database } from './schema.ts';
import * as m0001 from './migrations/0001-identity-and-registry.ts';
import * as m0002 from './migrations/0002-registry-management.ts';
import * as m0003 from './migrations/0003-builds.ts';
import * as m0004 from './migrations/0004-connect.ts';
import * as m0005 from './migrations/0005-studios.ts';

export type Db = Kysely<Database>;
export type DbKind = 'sqlite' | 'postgres';

export interface OpenedDatabase {
  db: Db;
  kind: DbKind;
  close(): Promise<void>;
}

/** Every migration, in order. Names sort in the order they run. */
const migrations: Record<string, Migration> = {
  '0001-identity-and-registry': m0001,
  '0002-registry-management': m0002,
  '0003-builds': m0003,
  '0004-connect': m0004,
  '0005-studios': m0005,
};

const staticProvider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Opens the database named by `url` (postgres://… or postgresql://…) or, without one, the SQLite
 * file at `sqlitePath`, and brings its schema up to date.
 */
export async function openDatabase(options: { url?: string; sqlitePath: string }): Promise<OpenedDatabase> {
  // Each driver loads only when used: a SQLite install never loads pg, and the other way round.
  const opened = options.url ? await openPostgres(options.url) : await openSqlite(options.sqlitePath);
  try {
    await migrate(opened.db);
  } catch (error) {
    await opened.close();
    throw error;
  }
  return opened;
}

async function openSqlite(path: string): Promise<OpenedDatabase> {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const { default: SqliteDatabase } = await import('better-sqlite3');
  const sqlite = new SqliteDatabase(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
  return { db, kind: 'sqlite', close: () => db.destroy() };
}

const cachedStatements = 256;

/**
 * Kysely prepares every query afresh, and compiling SQL costs more than running these small
 * queries: reuse statements by their text (a registry HEAD runs several). A statement that is
 * busy (being iterated) is not shared; a fresh one is prepared instead.
 */
function withStatementCache(sqlite: SqliteDatabase.Database): SqliteDialectDatabase {
  const statements = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql) {
      const cached = statements.get(sql);
      if (cached && !cached.busy) return cached;
      const statement = sqlite.prepare(sql);
      if (!cached) {
        if (statements.size >= cachedStatements) statements.delete(statements.keys().next().value!);
        statements.set(sql, statement);
      }
      return statement;
    },
  };
}

async function openPostgres(url: string): Promise<OpenedDatabase> {
  if (!/^postgres(ql)?:\/\//.test(url)) throw new Error(`database url must start with postgres:// (got ${redact(url)})`);
  const { default: pg } = await import('pg');
  // bigint columns hold millisecond times and sizes; both fit a JS number exactly.
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') =>
      oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format),
  };
  const pool = new pg.Pool({ connectionString: url, types, max: 10 });
  // An idle connection that the server ends (restart, failover, admin) must not crash Berth: the
  // pool drops that client and the next query connects afresh.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, kind: 'postgres', close: () => db.destroy() };
}

async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: staticProvider });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    const which = failed ? ` (migration ${failed.migrationName})` : '';
    throw new Error(`database migration failed${which}: ${(error as Error).message ?? String(error)}`);
  }
}

/** A database URL with its password hidden, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/** True when the error is a unique-constraint violation, in either database. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
