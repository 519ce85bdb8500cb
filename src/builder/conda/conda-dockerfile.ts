import { readFileSync } from 'node:fs';
import { renderEnvironmentFile, type CondaEnvironment } from './environment-file.ts';
import { MatchSpecError, parseMatchSpec } from './match-spec.ts';

/**
 * conda → Dockerfile by a versioned template kept as a readable file in ./templates/. The output
 * is a pure function of its input (same environment and options → byte-identical Dockerfile and
 * environment file), because the build id is a hash of both.
 */

export const condaTemplateVersion = 'v1';

/** The build-context file the template COPYs; the executor writes `environmentFile` under this name. */
export const condaEnvironmentFileName = 'environment.yml';

/** The lines the build prints around the explicit lock file (Wave's wording). */
export const condaLockStartMarker = '>> CONDA_LOCK_START';
export const condaLockEndMarker = '<< CONDA_LOCK_END';

/** Wave's CondaOpts defaults. */
export const defaultMambaImage = 'mambaorg/micromamba:1.5.10-noble';
export const defaultCondaBaseImage = 'ubuntu:24.04';
export const defaultCondaBasePackages: readonly string[] = ['conda-forge::procps-ng'];

export interface CondaDockerfileOptions {
  /** Image of the builder stage; it must provide micromamba and /opt/conda. */
  mambaImage?: string;
  /** Image of the final stage. */
  baseImage?: string;
  /** Match specs installed after the environment (Wave's `condaOpts.basePackages`); [] for none. */
  basePackages?: string[];
  /** `os/arch[/variant]`; when given, both stages are pinned to it with `FROM --platform=`. */
  platform?: string;
}

export interface CondaDockerfile {
  dockerfile: string;
  /** Contents of `condaEnvironmentFileName` in the build context. */
  environmentFile: string;
  templateVersion: string;
}

/** An option the template cannot use (malformed image reference, platform or base package). */
export class CondaDockerfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CondaDockerfileError';
  }
}

const templateFile = `conda-micromamba-${condaTemplateVersion}.Dockerfile`;
const templateText = readFileSync(new URL(`./templates/${templateFile}`, import.meta.url), 'utf8');

export function condaDockerfile(environment: CondaEnvironment, options: CondaDockerfileOptions = {}): CondaDockerfile {
  const mambaImage = checkImageReference(options.mambaImage ?? defaultMambaImage, 'mambaImage');
  const baseImage = checkImageReference(options.baseImage ?? defaultCondaBaseImage, 'baseImage');
  const basePackages = (options.basePackages ?? defaultCondaBasePackages).map(checkBasePackage);
  const platformFlag = options.platform === undefined ? '' : `--platform=${checkPlatform(options.platform)} `;
  const dockerfile = renderTemplate(templateText, {
    platformFlag,
    mambaImage,
    baseImage,
    basePackagesInstall: basePackages.length === 0 ? '' : `    && micromamba install -y -n base ${basePackages.map(shellWord).join(' ')} \\`,
    environmentVariables: Object.keys(environment.variables)
      .sort()
      .map((name) => environmentLine(name, environment.variables[name] as string))
      .join('\n'),
  });
  return { dockerfile, environmentFile: renderEnvironmentFile(environment), templateVersion: condaTemplateVersion };
}

/**
 * The explicit lock file a conda build printed between the markers, or null when the log has no
 * complete block (the build failed before the export). Expects the plain output of buildah or the
 * classic docker builder, where the echoed markers stand alone on their lines.
 */
export function extractCondaLock(buildLog: string): string | null {
  const lines = buildLog.split(/\r?\n/);
  const start = lines.findIndex((line) => line.trim() === condaLockStartMarker);
  if (start < 0) return null;
  const end = lines.findIndex((line, index) => index > start && line.trim() === condaLockEndMarker);
  if (end < 0) return null;
  return lines.slice(start + 1, end).join('\n');
}

/**
 * Fills `{{name}}` placeholders line by line. "##" lines are template documentation and dropped; a
 * line holding only a placeholder whose value is empty is dropped too. Unknown placeholders and
 * unused values throw, so the template and this code cannot drift apart silently.
 */
function renderTemplate(template: string, values: Record<string, string>): string {
  const used = new Set<string>();
  const rendered: string[] = [];
  for (const line of template.split('\n')) {
    if (line.startsWith('##')) continue;
    const filled = line.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
      const value = values[name];
      if (value === undefined) throw new Error(`template ${templateFile} uses unknown placeholder {{${name}}}`);
      used.add(name);
      return value;
    });
    const placeholderOnly = /^\{\{\w+\}\}$/.test(line.trim());
    if (!(placeholderOnly && filled === '')) rendered.push(filled);
  }
  const unused = Object.keys(values).filter((name) => !used.has(name));
  if (unused.length > 0) throw new Error(`template ${templateFile} does not use {{${unused.join('}}, {{')}}}`);
  return `${rendered.join('\n').trimEnd()}\n`;
}

/**
 * `[registry[:port]/]path[:tag][@sha256:digest]`, as docker and buildah parse it. Anything else is
 * refused before it reaches a FROM line, where whitespace or a newline would inject instructions.
 */
const imageReference =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

function checkImageReference(reference: string, option: string): string {
  if (reference.length > 512 || !imageReference.test(reference)) {
    throw new CondaDockerfileError(`condaOpts.${option} "${reference.slice(0, 200)}" is not a valid image reference`);
  }
  return reference;
}

function checkPlatform(platform: string): string {
  if (!/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/.test(platform)) {
    throw new CondaDockerfileError(`containerPlatform "${platform.slice(0, 100)}" is not a valid platform (expected os/arch[/variant], e.g. linux/amd64)`);
  }
  return platform;
}

function checkBasePackage(spec: string, index: number): string {
  try {
    parseMatchSpec(spec);
    return spec.trim();
  } catch (error) {
    if (error instanceof MatchSpecError) throw new CondaDockerfileError(`condaOpts.basePackages[${index}] ${error.message}`);
    throw error;
  }
}

/** A shell word for a RUN line: bare when it holds no shell syntax (`conda-forge::procps-ng`), single-quoted otherwise. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_.:/=+,-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** `ENV NAME="value"` with the escapes a Dockerfile applies inside double quotes (backslash, quote, and `$` substitution). */
function environmentLine(name: string, value: string): string {
  return `ENV ${name}="${value.replace(/[\\"$]/g, (character) => `\\${character}`)}"`;
}
