import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IdentityStore } from './identity-store.ts';

export interface BootstrapResult {
  /** Set only when the admin's token was generated now: it is shown once. */
  generatedToken?: string;
  tokenFile?: string;
}

/**
 * Makes sure the user `admin` (with its workspace `admin`) exists. On the first start its API
 * token comes from configuration, or is generated and written to `<dataDir>/admin-token` (0600).
 */
export async function ensureAdmin(
  identity: IdentityStore,
  options: { dataDir: string; adminToken?: string },
): Promise<BootstrapResult> {
  const existing = await identity.findUser('admin');
  if (existing) {
    // A token given by configuration on a later start is honoured too, so that the same
    // BERTH_ADMIN_TOKEN keeps working whatever the data directory has seen.
    if (options.adminToken && !(await identity.authenticate(options.adminToken))) {
      await identity.createApiToken(existing, { name: 'BERTH_ADMIN_TOKEN', scopes: ['*'], secret: options.adminToken });
    }
    return {};
  }
  const admin = await identity.createUser({ name: 'admin', isAdmin: true });
  const { secret } = await identity.createApiToken(admin, { name: 'bootstrap', scopes: ['*'], secret: options.adminToken });
  if (options.adminToken) return {};
  const tokenFile = join(options.dataDir, 'admin-token');
  await writeFile(tokenFile, `${secret}\n`, { mode: 0o600 });
  return { generatedToken: secret, tokenFile };
}
