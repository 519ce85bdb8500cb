import { access, lstat, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { ToolboxError } from '../toolbox-operation.ts';
import type { MapProblem, WorkflowFile } from './scan-results.ts';

/** Folders that hold runs, caches or dependencies rather than the workflow: Nextflow's work/, Snakemake's .snakemake/… */
const ignoredFolders = new Set(['.git', 'node_modules', '.nextflow', '.snakemake', '__pycache__', '.venv']);
const ignoredTopLevelFolders = new Set(['work']);
const maxFileBytes = 10 * 1024 * 1024;

/**
 * Reads the files of `dir` that `wanted` accepts (paths relative to `dir`, with `/`), skipping backups made by
 * earlier rewrites. Files that cannot be read as UTF-8 text are problems, not silently dropped.
 */
export async function readWorkflowFolder(dir: string, wanted: (path: string) => boolean, backupSuffix: string): Promise<{ files: WorkflowFile[]; problems: MapProblem[] }> {
  const info = await stat(dir).catch(() => undefined);
  if (!info?.isDirectory()) throw new ToolboxError('NOT_FOUND', `${dir} is not a directory`, { workflowDir: dir });
  const files: WorkflowFile[] = [];
  const problems: MapProblem[] = [];
  // ignoreBOM keeps a byte order mark in the text, so that a rewritten file keeps every byte but the references.
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  const walk = async (folder: string): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const full = join(folder, entry.name);
      const path = relative(dir, full).split(sep).join('/');
      if (entry.isDirectory()) {
        const ignored = ignoredFolders.has(entry.name) || (folder === dir && ignoredTopLevelFolders.has(entry.name));
        if (!ignored) await walk(full);
        continue;
      }
      if (path.endsWith(backupSuffix) || !wanted(path)) continue;
      // Symbolic links to files are read; links to folders are not followed (they may loop).
      const target = entry.isSymbolicLink() ? await stat(full).catch(() => undefined) : await lstat(full);
      if (!target?.isFile()) continue;
      if (target.size > maxFileBytes) {
        // Large JSON and YAML files are data, not CWL (which only those files can be): skipped without a word.
        if (!/\.(json|ya?ml)$/i.test(path)) problems.push({ file: path, line: 1, message: `not read: larger than ${maxFileBytes / 1024 / 1024} MiB` });
        continue;
      }
      try {
        files.push({ path, content: decoder.decode(await readFile(full)) });
      } catch {
        problems.push({ file: path, line: 1, message: 'not read: not UTF-8 text' });
      }
    }
  };
  await walk(dir);
  return { files, problems };
}

/**
 * Writes rewritten files, each after a backup of its original bytes (`<file><backupSuffix>`). Refuses, before
 * writing anything, when a backup already exists: it may be the only copy of the original.
 */
export async function writeRewrittenFiles(dir: string, rewritten: ReadonlyMap<string, string>, backupSuffix: string): Promise<Array<{ file: string; backup: string }>> {
  for (const path of rewritten.keys()) {
    const backup = join(dir, path + backupSuffix);
    if (await access(backup).then(() => true, () => false)) {
      throw new ToolboxError('CONFLICT', `backup ${path}${backupSuffix} already exists; move it away (it may hold the original) or choose another --backup-suffix`, {
        file: path,
      });
    }
  }
  const written: Array<{ file: string; backup: string }> = [];
  for (const [path, content] of rewritten) {
    const full = join(dir, path);
    await writeFile(full + backupSuffix, await readFile(full), { flag: 'wx' });
    await writeFile(full, content);
    written.push({ file: path, backup: path + backupSuffix });
  }
  return written;
}
