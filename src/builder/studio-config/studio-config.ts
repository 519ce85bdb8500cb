import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { isValidName, isValidTag, splitRegistryHost } from '../../registry/names.ts';
import { cleanPath } from './dockerignore.ts';

/**
 * `.seqera/studio-config.yaml`, the file that makes a git repository a Studio (Seqera Platform docs,
 * "Studios → Import from Git repository", Enterprise 25.3/26.1 and Cloud). The documented shape:
 *
 * ```yaml
 * schemaVersion: "0.0.1"
 * kind: "studio-config"
 * session:
 *   name: "studio-name"                        # unique in the workspace; generated when absent
 *   description: "desc"
 *   template:
 *     kind: "registry" | "dockerfile" | "none" # the only required field
 *     registry: "cr.seqera.io/image:latest"    # ignored unless kind is registry
 *     dockerfile: "Dockerfile"                 # relative to .seqera/; ignored unless kind is dockerfile
 *   clone:
 *     enabled: true                            # default true
 *     path: "/workspace"                       # default /workspace
 *   dependencies:
 *     condaEnvironmentFile: "environment.yaml" # relative to .seqera/; ignored for dockerfile
 *   computeRequirements:
 *     awsBatch: { cpu: 2, gpu: 0, memory: 8192 } # defaults; memory in MiB
 *   environmentVariables:
 *     - { name: "var1", value: "value1" }
 *   management:
 *     lifespanHours: 1                         # 1–120; ignored when the workspace sets a lifespan
 *     isPrivate: false
 *   ssh:
 *     enabled: false
 * ```
 *
 * Seqera's docs ask for `schemaVersion` and `kind`, yet its own example repository omits them; we accept their
 * absence and check them when present. Unknown keys are errors. Every problem carries its 1-based line.
 */

export const STUDIO_CONTEXT_DIRECTORY = '.seqera';
export const STUDIO_CONFIG_FILE = 'studio-config.yaml';
export const STUDIO_CONFIG_PATH = `${STUDIO_CONTEXT_DIRECTORY}/${STUDIO_CONFIG_FILE}`;

/** Larger files are refused before parsing; the documented file is a few hundred bytes. */
export const MAX_STUDIO_CONFIG_BYTES = 64 * 1024;

export interface StudioConfigProblem {
  /** 1-based line in the file, or null when the problem concerns the whole file. */
  line: number | null;
  message: string;
}

export class StudioConfigError extends Error {
  readonly problems: StudioConfigProblem[];

  constructor(problems: StudioConfigProblem[], source = STUDIO_CONFIG_PATH) {
    const listed = problems.map((p) => `  ${p.line === null ? '' : `line ${p.line}: `}${p.message}`).join('\n');
    super(`${source} is invalid:\n${listed}`);
    this.name = 'StudioConfigError';
    this.problems = problems;
  }
}

export type StudioTemplateKind = 'registry' | 'dockerfile' | 'none';

export type StudioTemplate =
  /** Run a ready-made image. */
  | { kind: 'registry'; image: string }
  /** Build `.seqera/<dockerfile>` with `.seqera/` as the build context. */
  | { kind: 'dockerfile'; dockerfile: string }
  /** No template of its own: the platform's default template is used. */
  | { kind: 'none' };

export interface StudioConfig {
  schemaVersion: string | null;
  kind: 'studio-config';
  session: {
    name: string | null;
    description: string | null;
    template: StudioTemplate;
    clone: { enabled: boolean; path: string };
    dependencies: {
      /** Relative to `.seqera/`, cleaned; null when absent. Ignored for dockerfile templates. */
      condaEnvironmentFile: string | null;
    };
    computeRequirements: { awsBatch: { cpu: number; gpu: number; memoryMiB: number } };
    environmentVariables: Array<{ name: string; value: string }>;
    management: { lifespanHours: number | null; isPrivate: boolean };
    ssh: { enabled: boolean };
  };
}

export const STUDIO_CONFIG_DEFAULTS = {
  clonePath: '/workspace',
  cpu: 2,
  gpu: 0,
  memoryMiB: 8192,
  maxLifespanHours: 120,
} as const;

/** Parses and validates the file; throws StudioConfigError listing every problem with its line. */
export function parseStudioConfig(text: string): StudioConfig {
  return inspectStudioConfig(text).config;
}

/**
 * Like parseStudioConfig, and also returns warnings: fields that are valid but ignored for the chosen template
 * kind (for `berth studio-config check`).
 */
export function inspectStudioConfig(text: string): { config: StudioConfig; warnings: StudioConfigProblem[] } {
  if (Buffer.byteLength(text, 'utf8') > MAX_STUDIO_CONFIG_BYTES) {
    throw new StudioConfigError([{ line: null, message: `the file is larger than ${MAX_STUDIO_CONFIG_BYTES} bytes` }]);
  }
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const reader = new ConfigReader(document, lineCounter);
  // The parser notices an unclosed quote or bracket at the end of the input; name the last line that has text.
  const lastLine = text.trimEnd().split('\n').length;
  const yamlProblems = [...document.errors, ...document.warnings].map((problem) => ({
    line: Math.min(reader.lineAt(problem.pos[0]) ?? 1, lastLine),
    message: problem.message.split('\n')[0]!,
  }));
  if (yamlProblems.length > 0) throw new StudioConfigError(yamlProblems);
  const config = readStudioConfig(reader);
  if (reader.problems.length > 0 || config === null) throw new StudioConfigError(inFileOrder(reader.problems));
  return { config, warnings: inFileOrder(reader.warnings) };
}

const TOP_LEVEL_KEYS = ['schemaVersion', 'kind', 'session'] as const;
const SESSION_KEYS = [
  'name',
  'description',
  'template',
  'clone',
  'dependencies',
  'computeRequirements',
  'environmentVariables',
  'management',
  'ssh',
] as const;
const TEMPLATE_KINDS: readonly StudioTemplateKind[] = ['registry', 'dockerfile', 'none'];
const ENVIRONMENT_VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SCHEMA_VERSION = /^\d+(\.\d+){0,3}$/;

function readStudioConfig(r: ConfigReader): StudioConfig | null {
  const root = r.resolve(r.document.contents);
  if (root === null) {
    r.problem(null, 'the file is empty; it needs at least session.template.kind');
    return null;
  }
  // Fields of `session` written at the top level are a common slip; point at where they belong.
  const underSession = Object.fromEntries(SESSION_KEYS.map((key) => [key, `session.${key}`]));
  const top = r.mapping(root, '', TOP_LEVEL_KEYS, underSession);
  if (top === null) return null;

  const schemaVersion = r.string(top.get('schemaVersion'), 'schemaVersion');
  if (schemaVersion !== null && !SCHEMA_VERSION.test(schemaVersion)) {
    r.problem(top.get('schemaVersion')!.value, `schemaVersion must be a version such as "0.0.1" (got "${schemaVersion}")`);
  }
  const kind = r.string(top.get('kind'), 'kind');
  if (kind !== null && kind !== 'studio-config') {
    r.problem(top.get('kind')!.value, `kind must be "studio-config" (got "${kind}")`);
  }

  const sessionField = top.get('session');
  if (!sessionField || sessionField.value === null) {
    r.problem(sessionField?.keyNode ?? root, 'session is required (with at least session.template.kind)');
    return null;
  }
  const session = r.mapping(sessionField.value, 'session', SESSION_KEYS);
  if (session === null) return null;

  const template = readTemplate(r, session.get('template'), sessionField.keyNode);
  const result: StudioConfig = {
    schemaVersion,
    kind: 'studio-config',
    session: {
      name: r.string(session.get('name'), 'session.name', { nonEmpty: true }),
      description: r.string(session.get('description'), 'session.description'),
      template: template ?? { kind: 'none' },
      clone: readClone(r, session.get('clone')),
      dependencies: readDependencies(r, session.get('dependencies'), template),
      computeRequirements: readComputeRequirements(r, session.get('computeRequirements')),
      environmentVariables: readEnvironmentVariables(r, session.get('environmentVariables')),
      management: readManagement(r, session.get('management')),
      ssh: readSsh(r, session.get('ssh')),
    },
  };
  return template === null ? null : result;
}

function readTemplate(r: ConfigReader, field: Field | undefined, sessionKey: Node): StudioTemplate | null {
  if (!field || field.value === null) {
    r.problem(field?.keyNode ?? sessionKey, 'session.template is required (with session.template.kind)');
    return null;
  }
  const template = r.mapping(field.value, 'session.template', ['kind', 'registry', 'dockerfile']);
  if (template === null) return null;
  const kindField = template.get('kind');
  const kind = r.string(kindField, 'session.template.kind');
  if (kind === null) {
    if (!kindField || kindField.value === null) r.problem(kindField?.keyNode ?? field.value, 'session.template.kind is required');
    return null;
  }
  if (!(TEMPLATE_KINDS as readonly string[]).includes(kind)) {
    r.problem(kindField!.value, `session.template.kind must be one of ${TEMPLATE_KINDS.join(', ')} (got "${kind}")`);
    return null;
  }
  const registryField = template.get('registry');
  const dockerfileField = template.get('dockerfile');
  const image = r.string(registryField, 'session.template.registry', { nonEmpty: true });
  const dockerfile = r.contextPath(dockerfileField, 'session.template.dockerfile');
  const ignoredUnless = (wanted: StudioTemplateKind, value: unknown, f: Field | undefined, name: string): void => {
    if (kind !== wanted && value !== null) r.warning(f!.keyNode, `${name} is ignored because session.template.kind is ${kind}`);
  };
  ignoredUnless('registry', image, registryField, 'session.template.registry');
  ignoredUnless('dockerfile', dockerfile, dockerfileField, 'session.template.dockerfile');

  if (kind === 'registry') {
    if (image === null) {
      if (!registryField || registryField.value === null) {
        r.problem(registryField?.keyNode ?? kindField!.value, 'session.template.registry (an image reference) is required when kind is registry');
      }
      return null;
    }
    if (!isImageReference(image)) {
      r.problem(registryField!.value, `session.template.registry "${image}" is not a valid image reference (like registry.example.com/team/image:tag)`);
      return null;
    }
    return { kind, image };
  }
  if (kind === 'dockerfile') {
    if (dockerfile === null) {
      if (!dockerfileField || dockerfileField.value === null) {
        r.problem(dockerfileField?.keyNode ?? kindField!.value, 'session.template.dockerfile (a path inside .seqera/) is required when kind is dockerfile');
      }
      return null;
    }
    return { kind, dockerfile };
  }
  return { kind: 'none' };
}

function readClone(r: ConfigReader, field: Field | undefined): StudioConfig['session']['clone'] {
  const clone = r.section(field, 'session.clone', ['enabled', 'path']);
  const enabled = r.boolean(clone?.get('enabled'), 'session.clone.enabled') ?? true;
  const pathField = clone?.get('path');
  const path = r.string(pathField, 'session.clone.path', { nonEmpty: true });
  if (path !== null && (!path.startsWith('/') || path.split('/').includes('..') || path.includes('\0'))) {
    r.problem(pathField!.value, `session.clone.path must be an absolute path inside the session without ".." (got "${path}")`);
  }
  return { enabled, path: path ?? STUDIO_CONFIG_DEFAULTS.clonePath };
}

function readDependencies(r: ConfigReader, field: Field | undefined, template: StudioTemplate | null): StudioConfig['session']['dependencies'] {
  const dependencies = r.section(field, 'session.dependencies', ['condaEnvironmentFile']);
  const condaField = dependencies?.get('condaEnvironmentFile');
  const condaEnvironmentFile = r.contextPath(condaField, 'session.dependencies.condaEnvironmentFile');
  if (condaEnvironmentFile !== null && template?.kind === 'dockerfile') {
    r.warning(condaField!.keyNode, 'session.dependencies.condaEnvironmentFile is ignored because session.template.kind is dockerfile');
  }
  return { condaEnvironmentFile };
}

function readComputeRequirements(r: ConfigReader, field: Field | undefined): StudioConfig['session']['computeRequirements'] {
  const requirements = r.section(field, 'session.computeRequirements', ['awsBatch'], {
    cpu: 'session.computeRequirements.awsBatch.cpu',
    gpu: 'session.computeRequirements.awsBatch.gpu',
    memory: 'session.computeRequirements.awsBatch.memory',
  });
  const awsBatch = r.section(requirements?.get('awsBatch'), 'session.computeRequirements.awsBatch', ['cpu', 'gpu', 'memory']);
  const where = 'session.computeRequirements.awsBatch';
  return {
    awsBatch: {
      cpu: r.integer(awsBatch?.get('cpu'), `${where}.cpu`, 1) ?? STUDIO_CONFIG_DEFAULTS.cpu,
      gpu: r.integer(awsBatch?.get('gpu'), `${where}.gpu`, 0) ?? STUDIO_CONFIG_DEFAULTS.gpu,
      memoryMiB: r.integer(awsBatch?.get('memory'), `${where}.memory (MiB)`, 1) ?? STUDIO_CONFIG_DEFAULTS.memoryMiB,
    },
  };
}

function readEnvironmentVariables(r: ConfigReader, field: Field | undefined): StudioConfig['session']['environmentVariables'] {
  const where = 'session.environmentVariables';
  const items = r.sequence(field, where);
  const variables: StudioConfig['session']['environmentVariables'] = [];
  const seen = new Map<string, number | null>();
  items.forEach((item, index) => {
    const at = `${where}[${index}]`;
    const entry = r.mapping(item, at, ['name', 'value']);
    if (entry === null) return;
    const nameField = entry.get('name');
    const name = r.string(nameField, `${at}.name`);
    const value = r.scalarText(entry.get('value'), `${at}.value`);
    if (name === null) {
      if (!nameField || nameField.value === null) r.problem(item, `${at}.name is required`);
      return;
    }
    if (!ENVIRONMENT_VARIABLE_NAME.test(name)) {
      r.problem(nameField!.value, `${at}.name "${name}" is not a valid environment variable name (letters, digits and _, not starting with a digit)`);
      return;
    }
    if (seen.has(name)) {
      const first = seen.get(name);
      r.problem(nameField!.value, `${at}.name "${name}" is defined twice${first ? ` (first on line ${first})` : ''}`);
      return;
    }
    seen.set(name, r.lineOf(nameField!.value));
    if (value === null) {
      if (!entry.get('value') || entry.get('value')!.value === null) r.problem(item, `${at}.value is required (use "" for an empty value)`);
      return;
    }
    variables.push({ name, value });
  });
  return variables;
}

function readManagement(r: ConfigReader, field: Field | undefined): StudioConfig['session']['management'] {
  const management = r.section(field, 'session.management', ['lifespanHours', 'isPrivate']);
  return {
    lifespanHours: r.integer(management?.get('lifespanHours'), 'session.management.lifespanHours', 1, STUDIO_CONFIG_DEFAULTS.maxLifespanHours),
    isPrivate: r.boolean(management?.get('isPrivate'), 'session.management.isPrivate') ?? false,
  };
}

function readSsh(r: ConfigReader, field: Field | undefined): StudioConfig['session']['ssh'] {
  const ssh = r.section(field, 'session.ssh', ['enabled']);
  return { enabled: r.boolean(ssh?.get('enabled'), 'session.ssh.enabled') ?? false };
}

/**
 * Whether `value` is an image reference as docker and the distribution spec write them:
 * `[host[:port]/]path[:tag][@algorithm:digest]`, the path in the lowercase repository-name grammar.
 */
export function isImageReference(value: string): boolean {
  let rest = value;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!/^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/.test(rest.slice(at + 1))) return false;
    if (rest.startsWith('sha256:', at + 1) && !/^[a-f0-9]{64}$/.test(rest.slice(at + 8))) return false;
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    if (!isValidTag(rest.slice(colon + 1))) return false;
    rest = rest.slice(0, colon);
  }
  const { registry, path } = splitRegistryHost(rest);
  const host = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
  if (registry !== undefined && !host.test(registry)) return false;
  return path !== '' && isValidName(path);
}

interface Field {
  keyNode: Node;
  /** The value, with aliases resolved; null for `key:` with nothing after it or an explicit null. */
  value: Node | null;
}

/** Walks the parsed document, collecting problems with their lines instead of stopping at the first. */
class ConfigReader {
  readonly problems: StudioConfigProblem[] = [];
  readonly warnings: StudioConfigProblem[] = [];

  constructor(
    readonly document: Document,
    private readonly lineCounter: LineCounter,
  ) {}

  lineAt(offset: number | undefined): number | null {
    return offset === undefined ? null : this.lineCounter.linePos(offset).line;
  }

  lineOf(node: Node | null): number | null {
    return this.lineAt(node?.range?.[0]);
  }

  problem(node: Node | null, message: string): void {
    this.problems.push({ line: this.lineOf(node), message });
  }

  warning(node: Node | null, message: string): void {
    this.warnings.push({ line: this.lineOf(node), message });
  }

  /** Follows aliases; maps YAML null to null. */
  resolve(node: unknown): Node | null {
    let current = node as Node | null | undefined;
    for (let hops = 0; current && isAlias(current) && hops < 10; hops++) current = current.resolve(this.document) as Node | undefined;
    if (!current || (isScalar(current) && current.value === null)) return null;
    return current;
  }

  /** A mapping with only `allowed` keys; unknown keys are problems (with a hint from `misplaced`). */
  mapping(node: Node, where: string, allowed: readonly string[], misplaced: Record<string, string> = {}): Map<string, Field> | null {
    const label = where === '' ? 'the top level' : where;
    if (!isMap(node)) {
      this.problem(node, `${label} must be a mapping of keys to values`);
      return null;
    }
    const fields = new Map<string, Field>();
    for (const pair of node.items) {
      const keyNode = pair.key as Node;
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        this.problem(keyNode, `keys in ${label} must be plain names`);
        continue;
      }
      const key = keyNode.value;
      if (!allowed.includes(key)) {
        const hint = misplaced[key] ? `; did you mean ${misplaced[key]}?` : suggestion(key, allowed);
        this.problem(keyNode, `unknown key "${key}" in ${label} (allowed: ${allowed.join(', ')})${hint}`);
        continue;
      }
      fields.set(key, { keyNode, value: this.resolve(pair.value) });
    }
    return fields;
  }

  /** An optional mapping-valued field; absent or null gives null without a problem. */
  section(field: Field | undefined, where: string, allowed: readonly string[], misplaced: Record<string, string> = {}): Map<string, Field> | null {
    if (!field || field.value === null) return null;
    return this.mapping(field.value, where, allowed, misplaced);
  }

  sequence(field: Field | undefined, where: string): Node[] {
    if (!field || field.value === null) return [];
    if (!isSeq(field.value)) {
      this.problem(field.value, `${where} must be a list of { name, value } entries`);
      return [];
    }
    return field.value.items.map((item) => this.resolve(item) ?? (item as Node));
  }

  string(field: Field | undefined, where: string, options: { nonEmpty?: boolean } = {}): string | null {
    if (!field || field.value === null) return null;
    const node = field.value;
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.problem(node, `${where} must be a string${isScalar(node) ? ' (put it in quotes)' : ''}`);
      return null;
    }
    if (options.nonEmpty && node.value.trim() === '') {
      this.problem(node, `${where} must not be empty`);
      return null;
    }
    return node.value;
  }

  /** A scalar value as written: strings as they are, numbers and booleans in their source spelling (`1.10`, not `1.1`). */
  scalarText(field: Field | undefined, where: string): string | null {
    if (!field || field.value === null) return null;
    const node = field.value;
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'boolean') && typeof node.source === 'string') return node.source;
    this.problem(node, `${where} must be a string`);
    return null;
  }

  boolean(field: Field | undefined, where: string): boolean | null {
    if (!field || field.value === null) return null;
    const node = field.value;
    if (!isScalar(node) || typeof node.value !== 'boolean') {
      const yaml11 = isScalar(node) && typeof node.value === 'string' && /^(yes|no|on|off|y|n)$/i.test(node.value);
      this.problem(node, `${where} must be true or false${yaml11 ? ` ("${String(node.value)}" is text in YAML 1.2)` : ''}`);
      return null;
    }
    return node.value;
  }

  integer(field: Field | undefined, where: string, min: number, max = Number.MAX_SAFE_INTEGER): number | null {
    if (!field || field.value === null) return null;
    const node = field.value;
    if (!isScalar(node) || typeof node.value !== 'number' || !Number.isSafeInteger(node.value)) {
      this.problem(node, `${where} must be a whole number`);
      return null;
    }
    if (node.value < min || node.value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
      this.problem(node, `${where} must be ${range} (got ${node.value})`);
      return null;
    }
    return node.value;
  }

  /** A path relative to `.seqera/` that stays inside it; returned cleaned (`./a//b` → `a/b`). */
  contextPath(field: Field | undefined, where: string): string | null {
    const path = this.string(field, where, { nonEmpty: true });
    if (path === null) return null;
    const node = field!.value;
    if (path.includes('\0') || path.includes('\\')) {
      this.problem(node, `${where} "${path}" must be a plain /-separated path`);
      return null;
    }
    const cleaned = cleanPath(path);
    if (path.startsWith('/') || cleaned === '.' || cleaned === '..' || cleaned.startsWith('../')) {
      this.problem(node, `${where} "${path}" must be a file path relative to ${STUDIO_CONTEXT_DIRECTORY}/ that stays inside it`);
      return null;
    }
    return cleaned;
  }
}

function inFileOrder(problems: StudioConfigProblem[]): StudioConfigProblem[] {
  return [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
}

/** `; did you mean "x"?` for a key one or two edits away from an allowed one (a typo or wrong case). */
function suggestion(key: string, allowed: readonly string[]): string {
  let best: string | null = null;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best === null ? '' : `; did you mean "${best}"?`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
