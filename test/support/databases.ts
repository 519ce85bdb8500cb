import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenedDatabase } from '../../src/db/database.ts';
import { freshPostgresUrl } from './postgres.ts';

export interface TestDatabase {
  opened: OpenedDatabase;
  cleanup(): Promise<void>;
}

/** Both databases Berth supports, each fresh and migrated: suites run once per kind. */
export const databaseKinds: Array<{ kind: 'sqlite' | 'postgres'; open: () => Promise<TestDatabase> }> = [
  {
    kind: 'sqlite',
    open: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'berth-db-'));
      const opened = await openDatabase({ sqlitePath: join(dir, 'berth.sqlite') });
      return { opened, cleanup: async () => (await opened.close(), await rm(dir, { recursive: true, force: true })) };
    },
  },
  {
    kind: 'postgres',
    open: async () => {
      const { url, drop } = await freshPostgresUrl();
      const opened = await openDatabase({ url, sqlitePath: 'unused' });
      return { opened, cleanup: async () => (await opened.close(), await drop()) };
    },
  },
];
