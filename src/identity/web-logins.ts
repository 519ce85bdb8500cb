import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/database.ts';
import type { User } from './identity-store.ts';

/**
 * Web login secrets look like `bwl_<43 url-safe chars>` (256 random bits): safe as a cookie value
 * as they are, and never mistaken for an API token (`berth_…`), so a stolen cookie cannot be replayed
 * as one. Only their sha256 is stored.
 */
const secretPrefix = 'bwl_';
const secretPattern = /^bwl_[A-Za-z0-9_-]{43}$/;

/**
 * The platform's browser logins: what the login page hands out after a user proves itself with an
 * API token, kept in a cookie on the platform's host and exchanged for studio cookies by
 * `/connect/authorize`.
 */
export class WebLogins {
  private readonly now: () => number;

  constructor(
    private readonly db: Db,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Starts a login for `user` that lasts `ttlMs`; returns its secret, the only time it is seen. */
  async create(user: User, ttlMs: number): Promise<string> {
    const secret = secretPrefix + randomBytes(32).toString('base64url');
    const now = this.now();
    await this.db
      .insertInto('web_logins')
      .values({ id_hash: hashSecret(secret), user_id: user.id, created_at: now, expires_at: now + ttlMs })
      .execute();
    return secret;
  }

  /** The user a login secret stands for; undefined when unknown, malformed or expired. */
  async authenticate(secret: string): Promise<User | undefined> {
    if (!secretPattern.test(secret)) return undefined;
    const row = await this.db
      .selectFrom('web_logins')
      .innerJoin('users', 'users.id', 'web_logins.user_id')
      .select(['users.id', 'users.name', 'users.is_admin', 'web_logins.expires_at'])
      .where('web_logins.id_hash', '=', hashSecret(secret))
      .executeTakeFirst();
    if (!row || Number(row.expires_at) <= this.now()) return undefined;
    return { id: row.id, name: row.name, isAdmin: row.is_admin === 1 };
  }

  /** Ends a login (logout). Idempotent; a malformed secret is ignored. */
  async remove(secret: string): Promise<void> {
    if (!secretPattern.test(secret)) return;
    await this.db.deleteFrom('web_logins').where('id_hash', '=', hashSecret(secret)).execute();
  }

  /** Deletes expired logins (a periodic job); returns how many. */
  async removeExpired(): Promise<number> {
    const result = await this.db.deleteFrom('web_logins').where('expires_at', '<=', this.now()).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
