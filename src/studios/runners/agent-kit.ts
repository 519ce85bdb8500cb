/**
 * The agent kit: a directory that runs Berth's session agent inside any Linux image of this machine's
 * architecture, without rebuilding the image. Container runners bind-mount it read-only at
 * `agentKitMountPath` and start the agent from it, with the image's own command as the tool.
 *
 * It holds the agent as one CommonJS bundle (esbuild, as scripts/build-agent.sh makes it), this host's
 * node binary, the shared libraries node links against (from `ldd`) and the dynamic loader. The agent is
 * started through that loader with `--library-path`, so it needs nothing from the image: it runs in
 * images without glibc (FROM scratch, Alpine) as well, and the loader's search path is not inherited by
 * the tool the agent starts (no LD_LIBRARY_PATH leaks into the image's programs).
 *
 * A kit is prepared once per content (bundle, node binary, libraries) under a directory of Berth's data
 * dir, in a directory named by its hash; it is written under a temporary name and renamed into place, so
 * a half-written kit is never used, and a kit in use by running containers is never rewritten.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Where container runners mount the kit (read-only). */
export const agentKitMountPath = '/opt/berth/agent';

const bundleName = 'berth-agent.cjs';
const nodeName = 'node';
const libraryDir = 'lib';
/** Written last: a kit directory without it is incomplete and never used. */
const manifestName = 'kit.json';

interface KitManifest {
  /** File name of the dynamic loader in the kit, or null when node is statically linked. */
  loader: string | null;
  agentVersion: string;
  nodeVersion: string;
}

export interface AgentKit {
  /** The kit's directory on the host: bind-mount it read-only at `agentKitMountPath`. */
  hostDir: string;
  agentVersion: string;
  /**
   * The agent's command inside a container where the kit is mounted, ending with `--`: the tool's command
   * follows it. Run from the bundle, the agent takes its options directly (no leading `agent` word).
   */
  agentCommand(gracePeriodS: number): string[];
}

/** Kits being prepared or prepared by this process, by kit root: one preparation each. */
const preparations = new Map<string, Promise<AgentKit>>();

/**
 * The agent kit under `rootDir` (e.g. `<data dir>/agent-kit`), prepared on first use. Concurrent and
 * later calls share one preparation; a failed one is tried again on the next call.
 */
export function prepareAgentKit(rootDir: string): Promise<AgentKit> {
  let preparation = preparations.get(rootDir);
  if (!preparation) {
    preparation = prepare(rootDir);
    preparations.set(rootDir, preparation);
    preparation.catch(() => preparations.delete(rootDir));
  }
  return preparation;
}

/** Bundles made by this process, by kit root. */
const bundles = new Map<string, Promise<{ bundle: Uint8Array; path: string; agentVersion: string }>>();

/**
 * The agent as one CommonJS file under `rootDir` (made once per process and agent version): what this host runs
 * with its own node to start a session's agent in a tenth of the time the source tree takes through tsx.
 */
export async function prepareAgentBundle(rootDir: string): Promise<string> {
  return (await bundleIn(rootDir)).path;
}

function bundleIn(rootDir: string): Promise<{ bundle: Uint8Array; path: string; agentVersion: string }> {
  let made = bundles.get(rootDir);
  if (!made) {
    made = (async () => {
      const agentVersion = await berthVersion();
      const bundle = await bundleAgent(agentVersion);
      const dir = join(rootDir, 'bundles');
      await mkdir(dir, { recursive: true });
      const path = join(dir, `${createHash('sha256').update(bundle).digest('hex').slice(0, 20)}.cjs`);
      const staging = `${path}.${randomBytes(6).toString('hex')}`;
      await writeFile(staging, bundle, { mode: 0o644 });
      await rename(staging, path);
      return { bundle, path, agentVersion };
    })();
    bundles.set(rootDir, made);
    made.catch(() => bundles.delete(rootDir));
  }
  return made;
}

async function prepare(rootDir: string): Promise<AgentKit> {
  const { bundle, agentVersion } = await bundleIn(rootDir);
  const nodePath = process.execPath;
  const libraries = await sharedLibrariesOf(nodePath);
  const key = await kitKey(bundle, nodePath, libraries);
  const hostDir = join(rootDir, key);
  const existing = await readManifest(hostDir);
  const manifest = existing ?? (await writeKit(rootDir, hostDir, { bundle, nodePath, libraries, agentVersion }));
  return kitAt(hostDir, manifest);
}

function kitAt(hostDir: string, manifest: KitManifest): AgentKit {
  const inside = (name: string) => `${agentKitMountPath}/${name}`;
  const launcher = manifest.loader === null ? [] : [inside(manifest.loader), '--library-path', inside(libraryDir)];
  return {
    hostDir,
    agentVersion: manifest.agentVersion,
    agentCommand: (gracePeriodS) => [...launcher, inside(nodeName), inside(bundleName), '--grace-period', String(gracePeriodS), '--'],
  };
}

async function berthVersion(): Promise<string> {
  const packageJson = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return packageJson.version;
}

/** The agent as one CommonJS file, with the same options as scripts/build-agent.sh. */
async function bundleAgent(agentVersion: string): Promise<Uint8Array> {
  // esbuild is loaded only when a kit is prepared (it comes with tsx, which runs Berth).
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [fileURLToPath(new URL('../../connect/agent/agent-main.ts', import.meta.url))],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    define: { BERTH_AGENT_VERSION: JSON.stringify(agentVersion) },
    // agent-main reads package.json through import.meta only when run from the source tree.
    logOverride: { 'empty-import-meta': 'silent' },
    logLevel: 'silent',
    write: false,
  });
  const output = result.outputFiles[0];
  if (!output) throw new Error('esbuild produced no agent bundle');
  return output.contents;
}

interface SharedLibraries {
  /** The dynamic loader's path on the host, or null for a statically linked node. */
  loader: string | null;
  /** Each library node needs: the name the loader looks for, and the file on the host. */
  libraries: Array<{ name: string; path: string }>;
}

/**
 * Reads `ldd`'s answer for `binary`: `name => /path (0x…)` for each library, `/path/ld-….so (0x…)` for the
 * loader, a bare `linux-vdso.so.1 (0x…)` for the kernel's own (nothing to copy).
 */
async function sharedLibrariesOf(binary: string): Promise<SharedLibraries> {
  let output: string;
  try {
    output = (await execFileAsync('ldd', [binary])).stdout;
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; message: string };
    const said = `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
    if (/not a dynamic executable|statically linked/i.test(said)) return { loader: null, libraries: [] };
    throw new Error(`cannot list the shared libraries of ${binary} with ldd: ${said.trim() || failed.message}`);
  }
  const found: SharedLibraries = { loader: null, libraries: [] };
  for (const rawLine of output.split('\n')) {
    const line = rawLine.trim();
    if (line === '') continue;
    if (/statically linked/i.test(line)) return { loader: null, libraries: [] };
    const arrow = /^(\S+)\s+=>\s+(\S+)/.exec(line);
    if (arrow) {
      const [, name, path] = arrow as unknown as [string, string, string];
      if (path === 'not') throw new Error(`${binary} needs ${name}, which ldd cannot find`);
      // musl names the loader as the C library's target (`libc.musl-….so.1 => /lib/ld-musl-….so.1`).
      if (path.startsWith('/')) found.libraries.push({ name, path });
      continue;
    }
    const bare = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/i.exec(line);
    if (bare) found.loader = bare[1]!;
  }
  if (found.loader === null && found.libraries.length > 0) throw new Error(`ldd named no dynamic loader for ${binary}:\n${output}`);
  return found;
}

/** A short hash of everything the kit is made of: a different node, library or agent gives another kit. */
async function kitKey(bundle: Uint8Array, nodePath: string, shared: SharedLibraries): Promise<string> {
  const hash = createHash('sha256').update(bundle);
  for (const path of [nodePath, ...(shared.loader ? [shared.loader] : []), ...shared.libraries.map((library) => library.path)]) {
    const info = await stat(path);
    hash.update(`\0${path}\0${info.size}\0${info.mtimeMs}`);
  }
  return hash.digest('hex').slice(0, 20);
}

async function readManifest(hostDir: string): Promise<KitManifest | undefined> {
  try {
    return JSON.parse(await readFile(join(hostDir, manifestName), 'utf8')) as KitManifest;
  } catch {
    return undefined;
  }
}

interface KitParts {
  bundle: Uint8Array;
  nodePath: string;
  libraries: SharedLibraries;
  agentVersion: string;
}

/** Writes the kit under a temporary name, checks that it runs, and renames it to `hostDir`. */
async function writeKit(rootDir: string, hostDir: string, parts: KitParts): Promise<KitManifest> {
  await mkdir(rootDir, { recursive: true });
  const staging = join(rootDir, `.staging-${randomBytes(6).toString('hex')}`);
  try {
    const manifest = await fillKit(staging, parts);
    try {
      await rename(staging, hostDir);
    } catch (error) {
      // Another Berth process sharing the data dir finished the same kit first: use that one.
      const raced = await readManifest(hostDir);
      if (!raced) throw error;
      return raced;
    }
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function fillKit(dir: string, parts: KitParts): Promise<KitManifest> {
  // Readable and runnable by any user: images often run their tool (hence the agent) as a non-root user.
  await mkdir(join(dir, libraryDir), { recursive: true });
  await chmod(dir, 0o755);
  await chmod(join(dir, libraryDir), 0o755);
  await writeFile(join(dir, bundleName), parts.bundle, { mode: 0o644 });
  await copyInto(parts.nodePath, join(dir, nodeName), 0o755);
  for (const library of parts.libraries.libraries) await copyInto(library.path, join(dir, libraryDir, library.name), 0o755);
  const loaderPath = parts.libraries.loader;
  if (loaderPath !== null) await copyInto(loaderPath, join(dir, basename(loaderPath)), 0o755);
  const loader = loaderPath === null ? null : basename(loaderPath);
  const manifest: KitManifest = { loader, agentVersion: parts.agentVersion, nodeVersion: process.version };
  await checkKitRuns(dir, manifest);
  await writeFile(join(dir, manifestName), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o644 });
  return manifest;
}

/** Copies a file (following symlinks: the loader and libraries are often links), sharing blocks where the file system can. */
async function copyInto(source: string, target: string, mode: number): Promise<void> {
  await copyFile(source, target, fsConstants.COPYFILE_FICLONE);
  await chmod(target, mode);
}

/** Runs the kit's agent on the host the way a container will (`--version`), so a broken kit fails here and not in every session. */
async function checkKitRuns(dir: string, manifest: KitManifest): Promise<void> {
  const launcher = manifest.loader === null ? [] : [join(dir, manifest.loader), '--library-path', join(dir, libraryDir)];
  const [file, ...args] = [...launcher, join(dir, nodeName), join(dir, bundleName), '--version'];
  const { stdout } = await execFileAsync(file!, args, { timeout: 30_000 });
  if (!stdout.includes(manifest.agentVersion)) throw new Error(`the agent kit's agent answered --version with ${JSON.stringify(stdout.trim())}`);
}
