import { createHash, type Hash } from 'node:crypto';
import { RegistryError } from './errors.ts';

/** A content digest such as `sha256:9f86…`. Only algorithms the registry can verify are accepted. */
export type Digest = `${DigestAlgorithm}:${string}`;
export type DigestAlgorithm = 'sha256' | 'sha512';

const hexLength: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const grammar = /^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

export function isDigest(value: string): value is Digest {
  const match = grammar.exec(value);
  if (!match) return false;
  const length = hexLength[match[1] as DigestAlgorithm];
  return length !== undefined && match[2]!.length === length && /^[a-f0-9]+$/.test(match[2]!);
}

/** Parses a digest, or throws DigestInvalid naming what is wrong. */
export function parseDigest(value: string | null | undefined): Digest {
  if (!value) throw new RegistryError('DigestInvalid', 'a digest is required');
  if (isDigest(value)) return value;
  const match = grammar.exec(value);
  if (match && !(match[1]! in hexLength)) {
    throw new RegistryError('DigestInvalid', `unsupported digest algorithm "${match[1]}"; use sha256 or sha512`);
  }
  throw new RegistryError('DigestInvalid', `invalid digest "${value.slice(0, 200)}"`);
}

export function algorithmOf(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

export function hexOf(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

export function digestOf(bytes: Buffer | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}
