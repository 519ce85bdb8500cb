import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * Where a clone keeps the upload sessions it has open in target registries, so that a run after an
 * interruption continues a large blob from what the registry already holds instead of from byte 0.
 * Keys name the blob in its target (`host/repository@digest`); values are the session's location.
 */
export interface UploadSessions {
  get(key: string): Promise<string | undefined>;
  set(key: string, location: string): Promise<void>;
  delete(key: string): Promise<void>;
}

/** Sessions older than this are dropped when the file is read: registries expire them long before. */
const maxSessionAgeMs = 7 * 24 * 3600 * 1000;

/**
 * Upload sessions in one small JSON file (the CLI's state directory). Writes are serialised and
 * land through a rename, so an interrupted process leaves either the old or the new file.
 */
export function uploadSessionsFile(path: string): UploadSessions {
  let writing: Promise<void> = Promise.resolve();
  const read = async (): Promise<Record<string, { location: string; savedAt: number }>> => {
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as Record<string, { location: string; savedAt: number }>;
      return Object.fromEntries(Object.entries(parsed).filter(([, entry]) => Date.now() - entry.savedAt < maxSessionAgeMs));
    } catch {
      return {};
    }
  };
  const update = (change: (entries: Record<string, { location: string; savedAt: number }>) => void): Promise<void> => {
    writing = writing.catch(() => undefined).then(async () => {
      const entries = await read();
      change(entries);
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(entries, null, 1));
      await rename(temporary, path);
    });
    return writing;
  };
  return {
    async get(key) {
      await writing.catch(() => undefined);
      return (await read())[key]?.location;
    },
    set: (key, location) => update((entries) => void (entries[key] = { location, savedAt: Date.now() })),
    delete: (key) => update((entries) => void delete entries[key]),
  };
}
