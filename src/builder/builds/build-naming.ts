import { createHash } from 'node:crypto';
import { parse } from 'yaml';
import type { NameStrategy } from './container-request.ts';

/**
 * How builds and their images are named. The container id is a hash of everything that determines the
 * image, so the same description always lands on the same tag and a second request finds it built.
 */

export interface ContainerIdentity {
  dockerfile: string;
  condaFile: string | null;
  platform: string;
  /** The repository the image is pushed to, as written in the request (`host/path`). */
  repository: string;
  contextDigest: string | null;
}

/** 16 hex characters of sha256 over the identity's fields (length-prefixed, so fields cannot run together). */
export function containerIdOf(identity: ContainerIdentity): string {
  const hash = createHash('sha256');
  for (const [key, value] of Object.entries({
    dockerfile: identity.dockerfile,
    condaFile: identity.condaFile,
    platform: identity.platform,
    repository: identity.repository,
    contextDigest: identity.contextDigest,
  })) {
    const text = value ?? '';
    hash.update(`${key}:${value === null ? -1 : Buffer.byteLength(text)}:`).update(text);
  }
  return hash.digest('hex').slice(0, 16);
}

/** `bd-<container id>_<attempt>`, as Wave numbers repeated builds of one container. */
export function buildIdOf(containerId: string, attempt: number): string {
  return `bd-${containerId}_${attempt}`;
}

/**
 * The image a build produces, as Wave names it: `tagPrefix` (the default) puts the conda packages in
 * front of the id in the tag, `imageSuffix` adds them to the repository path (and a single version to the
 * tag), `none` uses the id alone. Without a conda file every strategy gives `<repository>:<id>`.
 */
export function targetImageOf(repository: string, containerId: string, condaFile: string | null, strategy: NameStrategy = 'tagPrefix'): string {
  const packages = condaFile ? condaPackages(condaFile) : undefined;
  if (!packages || strategy === 'none') return `${repository}:${containerId}`;
  if (strategy === 'tagPrefix') {
    const names = packages.name ? [packages.name] : packages.specs.map((spec) => (spec.version ? `${spec.name}-${spec.version}` : spec.name));
    const prefix = cleanTag(names.join('_'));
    return prefix ? `${repository}:${prefix}--${containerId}` : `${repository}:${containerId}`;
  }
  const names = packages.name ? [packages.name] : packages.specs.map((spec) => spec.name);
  const suffix = cleanName(names.join('_'));
  const versions = packages.name ? [] : [...new Set(packages.specs.map((spec) => spec.version))];
  const version = versions.length === 1 && versions[0] ? cleanTag(versions[0]) : undefined;
  const tag = version ? `${version}--${containerId}` : containerId;
  return `${suffix ? `${repository}/${suffix}` : repository}:${tag}`;
}

interface CondaPackages {
  name?: string;
  specs: Array<{ name: string; version?: string }>;
}

/** The environment's name, or its dependencies as name + version (channel, pip: and URLs left out). */
function condaPackages(condaFile: string): CondaPackages | undefined {
  const document = parse(condaFile) as { name?: unknown; dependencies?: unknown } | null;
  if (!document || typeof document !== 'object') return undefined;
  if (typeof document.name === 'string' && document.name) return { name: document.name, specs: [] };
  if (!Array.isArray(document.dependencies)) return undefined;
  const specs: CondaPackages['specs'] = [];
  for (const dependency of document.dependencies) {
    if (typeof dependency === 'string' && !/^https?:\/\//.test(dependency)) specs.push(splitSpec(dependency.replace(/^.*::/, '')));
    if (dependency && typeof dependency === 'object' && Array.isArray((dependency as { pip?: unknown }).pip)) {
      for (const requirement of (dependency as { pip: unknown[] }).pip) if (typeof requirement === 'string') specs.push(splitSpec(requirement));
    }
  }
  return specs.length ? { specs } : undefined;
}

function splitSpec(spec: string): { name: string; version?: string } {
  const [name = '', version] = spec.split(/[=<>!~ ]+/, 2);
  return version ? { name, version } : { name };
}

/** Shortened to `max` characters at an `_` boundary when possible; no leading or trailing punctuation. */
function clean(value: string, allowed: RegExp, max: number): string {
  let text = value.replace(allowed, '');
  if (text.length > max) {
    const parts = text.split('_');
    let joined = '';
    for (const part of parts) {
      if ((joined ? `${joined}_${part}` : part).length > max) break;
      joined = joined ? `${joined}_${part}` : part;
    }
    text = (joined || text).slice(0, max);
  }
  return text.replace(/^[\W_]+|[\W_]+$/g, '');
}

function cleanTag(value: string): string {
  return clean(value, /[^a-zA-Z0-9_.-]/g, 80);
}

function cleanName(value: string): string {
  return clean(value.toLowerCase(), /[^a-z0-9_.\-/]/g, 128);
}
