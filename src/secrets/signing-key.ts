import { createPublicKey } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importPKCS8, type CryptoKey, type KeyObject } from 'jose';

export interface SigningKey {
  privateKey: CryptoKey | KeyObject;
  publicKey: CryptoKey | KeyObject;
  kid: string;
}

/**
 * An RS256 signing key (registry tokens, studio tokens), kept as PKCS#8 PEM in the data directory (0600) so
 * tokens stay valid across restarts. Created on first use.
 */
export async function loadOrCreateSigningKey(path: string): Promise<SigningKey> {
  let pem = await readFile(path, 'utf8').catch(() => undefined);
  if (pem === undefined) {
    const pair = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
    pem = await exportPKCS8(pair.privateKey);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, pem, { mode: 0o600, flag: 'wx' }).catch(async (error) => {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      pem = await readFile(path, 'utf8'); // another process won the race: use its key
    });
  }
  const privateKey = await importPKCS8(pem!, 'RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  const publicJwk = { kty: jwk.kty!, n: jwk.n!, e: jwk.e! };
  const publicKey = createPublicKey({ key: publicJwk, format: 'jwk' });
  return { privateKey, publicKey, kid: await calculateJwkThumbprint(publicJwk) };
}
