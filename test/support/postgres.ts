import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * PostgreSQL for tests: `npm test` installs and starts a server and sets BERTH_TEST_POSTGRES_URL
 * to an account that may create databases. Each call makes a fresh, empty database.
 */
export async function freshPostgresUrl(): Promise<{ url: string; drop: () => Promise<void> }> {
  const admin = process.env.BERTH_TEST_POSTGRES_URL;
  if (!admin) throw new Error('BERTH_TEST_POSTGRES_URL is not set: run the suite with `npm test`, which starts PostgreSQL');
  const name = `berth_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
