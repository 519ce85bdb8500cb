import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { openDatabase, redact } from '../../src/db/database.ts';
import { freshPostgresUrl } from '../support/postgres.ts';

describe('database', () => {
  it('migrates a SQLite file once and reopens it with its data', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-db-'));
    try {
      const path = join(dir, 'b.sqlite');
      const first = await openDatabase({ sqlitePath: path });
      await first.db.insertInto('users').values({ id: 'u1', name: 'kept', is_admin: 0, created_at: 1 }).execute();
      await first.close();
      const second = await openDatabase({ sqlitePath: path });
      assert.equal((await second.db.selectFrom('users').select('name').execute())[0]?.name, 'kept');
      await second.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('migrates PostgreSQL and returns bigint columns as numbers', async () => {
    const { url, drop } = await freshPostgresUrl();
    try {
      const opened = await openDatabase({ url, sqlitePath: 'unused' });
      assert.equal(opened.kind, 'postgres');
      await opened.db.insertInto('users').values({ id: 'u1', name: 'pg', is_admin: 1, created_at: 1_700_000_000_123 }).execute();
      const row = await opened.db.selectFrom('users').selectAll().executeTakeFirstOrThrow();
      assert.equal(row.created_at, 1_700_000_000_123);
      await opened.close();
      const again = await openDatabase({ url, sqlitePath: 'unused' });
      await again.close();
    } finally {
      await drop();
    }
  });

  it('survives PostgreSQL ending its idle connections, and reconnects', async () => {
    const { url, drop } = await freshPostgresUrl();
    try {
      const opened = await openDatabase({ url, sqlitePath: 'unused' });
      await opened.db.selectFrom('users').selectAll().execute();
      const admin = new pg.Client({ connectionString: process.env.BERTH_TEST_POSTGRES_URL });
      await admin.connect();
      const database = new URL(url).pathname.slice(1);
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [database]);
      await admin.end();
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(await opened.db.selectFrom('users').selectAll().execute(), []);
      await opened.close();
    } finally {
      await drop();
    }
  });

  it('names a wrong URL without revealing its password', async () => {
    await assert.rejects(openDatabase({ url: 'mysql://u:secret@h/db', sqlitePath: 'x' }), (e: Error) => !e.message.includes('secret') && e.message.includes('postgres://'));
    assert.equal(redact('postgres://u:secret@h:5432/db'), 'postgres://u:***@h:5432/db');
  });

  it('reports an unreachable PostgreSQL clearly', async () => {
    await assert.rejects(openDatabase({ url: 'postgres://nobody:pw@127.0.0.1:1/none', sqlitePath: 'x' }), /migration failed|ECONNREFUSED/);
  });
});
