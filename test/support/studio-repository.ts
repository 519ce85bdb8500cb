import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from './processes.ts';

/** Files (text, or with a mode) and symlinks of a tree, by path. */
export type TreeSpec = Record<string, string | { content: string; mode: number } | { symlink: string }>;

/** A dockerfile studio: config, Dockerfile, context files, an ignore file and a file it leaves out. */
export const dockerfileStudio: TreeSpec = {
  '.seqera/studio-config.yaml': [
    'schemaVersion: "0.0.1"',
    'kind: "studio-config"',
    'session:',
    '  name: "rnaseq-lab"',
    '  template:',
    '    kind: "dockerfile"',
    '    dockerfile: "Dockerfile"',
    '  computeRequirements:',
    '    awsBatch: { cpu: 4, memory: 16384 }',
    '  environmentVariables:',
    '    - { name: "PROJECT", value: "rnaseq" }',
    '',
  ].join('\n'),
  '.seqera/Dockerfile': 'FROM scratch\nCOPY app /app\n',
  '.seqera/app/run.sh': { content: '#!/bin/sh\necho run\n', mode: 0o755 },
  '.seqera/app/data.txt': 'data\n',
  '.seqera/scratch/big.bin': 'left out by .dockerignore\n',
  '.seqera/.dockerignore': '# not part of the image\nscratch\n',
  'README.md': 'outside the build context\n',
};

/** A config with two problems: an unknown key on line 7 and an out-of-range lifespan on line 9. */
export const brokenConfig = [
  'schemaVersion: "0.0.1"',
  'kind: "studio-config"',
  'session:',
  '  template:',
  '    kind: "dockerfile"',
  '    dockerfile: "Dockerfile"',
  '  clonez: {}',
  '  management:',
  '    lifespanHours: 500',
  '',
].join('\n');

/** Writes `spec` under `root`. */
export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  for (const [path, value] of Object.entries(spec)) {
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    if (typeof value === 'string') await writeFile(target, value);
    else if ('symlink' in value) await symlink(value.symlink, target);
    else {
      await writeFile(target, value.content);
      await chmod(target, value.mode);
    }
  }
}

export const gitIn = (cwd: string) => (args: string[]) =>
  run('git', ['-c', 'user.name=Berth Test', '-c', 'user.email=test@berth.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd }).then((r) => r.stdout.trim());

/** A git repository in a new directory under `parent` (default: the OS temp dir) with `spec` committed on main. */
export async function makeStudioRepository(spec: TreeSpec, parent = tmpdir()): Promise<{ dir: string; commit: string }> {
  const dir = await mkdtemp(join(parent, 'berth-studio-repo-'));
  await writeTree(dir, spec);
  const git = gitIn(dir);
  await git(['init', '--quiet']);
  await git(['add', '--all']);
  await git(['commit', '--quiet', '-m', 'studio']);
  return { dir, commit: await git(['rev-parse', 'HEAD']) };
}

/** Commits `spec` on top of the current branch of `dir`; returns the new commit. */
export async function commitTree(dir: string, spec: TreeSpec, message = 'change'): Promise<string> {
  await writeTree(dir, spec);
  const git = gitIn(dir);
  await git(['add', '--all']);
  await git(['commit', '--quiet', '-m', message]);
  return git(['rev-parse', 'HEAD']);
}
