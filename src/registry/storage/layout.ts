import { join } from 'node:path';
import { algorithmOf, hexOf, type Digest } from '../digest.ts';

/**
 * The filesystem blob store's layout, version 1. This file is its only owner.
 *
 *   <root>/
 *     layout-version             "1"
 *     blobs/
 *       sha256/
 *         9f/
 *           9f86d08…             committed content; immutable; named by its hex digest
 *       sha512/…
 *     uploads/
 *       <upload id>/
 *         data                   bytes staged so far; renamed into blobs/ on commit
 *
 * A blob appears by an atomic rename(2) from uploads/ to blobs/ on the same filesystem, so a
 * crash leaves either no blob or the whole blob, never a partial one.
 */
export const layoutVersion = '1';

export const layout = {
  versionFile: (root: string) => join(root, 'layout-version'),
  blobsRoot: (root: string) => join(root, 'blobs'),
  blob: (root: string, digest: Digest) => {
    const hex = hexOf(digest);
    return join(root, 'blobs', algorithmOf(digest), hex.slice(0, 2), hex);
  },
  uploadsRoot: (root: string) => join(root, 'uploads'),
  uploadDir: (root: string, id: string) => join(root, 'uploads', id),
  uploadData: (root: string, id: string) => join(root, 'uploads', id, 'data'),
};
