import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';

/**
 * Encrypts secrets for storage in the database (AES-256-GCM). The key never lives in the
 * database: it comes from BERTH_SECRET_KEY or a key file in the data directory (0600), so a copy
 * of the database alone reveals no secret.
 *
 * Stored form: `v1:<base64url iv>:<base64url tag>:<base64url ciphertext>`.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  /** From a configured secret (any string; hashed to 32 bytes), else the key file, created if missing. */
  static async open(options: { secret?: string; keyFile: string }): Promise<SecretBox> {
    if (options.secret) return new SecretBox(createHash('sha256').update(options.secret).digest());
    const existing = await readFile(options.keyFile).catch(() => undefined);
    if (existing) {
      if (existing.length !== 32) throw new Error(`secret key file ${options.keyFile} must hold exactly 32 bytes`);
      return new SecretBox(existing);
    }
    const key = randomBytes(32);
    await writeFile(options.keyFile, key, { mode: 0o600, flag: 'wx' }).catch(async (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    });
    return new SecretBox(await readFile(options.keyFile));
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(':');
  }

  /** Decrypts a sealed value; throws when it was sealed with another key or altered. */
  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split(':');
    if (version !== 'v1' || !iv || !tag || body === undefined) throw new Error('not a sealed secret');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }
}
