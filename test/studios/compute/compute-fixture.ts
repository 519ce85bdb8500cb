import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type OpenedDatabase } from '../../../src/db/database.ts';
import { IdentityStore, type Workspace } from '../../../src/identity/identity-store.ts';
import { Credentials } from '../../../src/registry/management/credentials.ts';
import { SecretBox } from '../../../src/secrets/secret-box.ts';
import { ComputeEnvs } from '../../../src/studios/compute/compute-envs.ts';
import { ComputeRunners } from '../../../src/studios/compute/runner-factory.ts';

/** The real parts compute environments stand on, over a fresh SQLite database in a scratch data directory. */
export interface ComputeFixture {
  dataDir: string;
  database: OpenedDatabase;
  identity: IdentityStore;
  credentials: Credentials;
  runners: ComputeRunners;
  envs: ComputeEnvs;
  /** A new user's personal workspace. */
  workspace(name: string): Promise<Workspace>;
  close(): Promise<void>;
}

export async function computeFixture(): Promise<ComputeFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'berth-compute-'));
  const database = await openDatabase({ sqlitePath: join(dataDir, 'berth.sqlite') });
  const identity = new IdentityStore(database.db);
  const credentials = new Credentials(database.db, await SecretBox.open({ keyFile: join(dataDir, 'secret.key') }));
  const runners = new ComputeRunners({ dataDir, credentials });
  const envs = new ComputeEnvs({ db: database.db, credentials, runners });
  return {
    dataDir,
    database,
    identity,
    credentials,
    runners,
    envs,
    async workspace(name) {
      await identity.createUser({ name });
      return identity.requireWorkspace(name);
    },
    async close() {
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
