import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Pair } from 'yaml';
import { CondaChannelError, MatchSpecError, parseChannel, parseMatchSpec } from './match-spec.ts';

/**
 * Conda environment files as Wave and Seqera accept them (`packages.environment`, a studio's
 * `dependencies.condaEnvironmentFile`), and Wave's `packages.entries` form, both normalized into
 * one CondaEnvironment whose rendering is the exact file the build installs and hashes.
 */

/** Wave's default `wave.build.max-conda-file-size`, in bytes. */
export const defaultMaxCondaFileBytes = 50_000;

export interface CondaEnvironment {
  name?: string;
  channels: string[];
  /** Conda match specs, trimmed, in file order. */
  dependencies: string[];
  /** Requirements of the `pip:` mapping, in file order. */
  pip: string[];
  /** Environment variables, keys sorted so that equal environments render identically. */
  variables: Record<string, string>;
}

/** One thing wrong with the input; `line` is 1-based, null when the problem has no place in a file. */
export interface EnvironmentProblem {
  line: number | null;
  message: string;
}

/** Every problem found in one go; `message` lists them one per line as `line N: …`. */
export class EnvironmentFileError extends Error {
  readonly problems: EnvironmentProblem[];

  constructor(problems: EnvironmentProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'EnvironmentFileError';
    this.problems = problems;
  }
}

export interface EnvironmentLimits {
  /** Largest accepted input in UTF-8 bytes; Wave's default is 50 000. */
  maxBytes?: number;
}

/**
 * Parses and validates an environment.yml: keys `name`, `channels`, `dependencies` (match specs
 * plus at most one `pip:` mapping), `prefix` (accepted and ignored: the image always installs into
 * the base environment) and `variables`. Throws EnvironmentFileError listing every problem with its line.
 */
export function parseEnvironmentFile(text: string, options: EnvironmentLimits = {}): CondaEnvironment {
  checkSize(Buffer.byteLength(text, 'utf8'), options);
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const reader = new EnvironmentReader(lineCounter);
  for (const issue of [...document.errors, ...document.warnings]) {
    reader.reportAt(issue.pos[0], `invalid YAML: ${issue.message.split('\n')[0]}`);
  }
  if (document.errors.length === 0) reader.readRoot(document.contents);
  return reader.finish();
}

/**
 * Builds the environment of Wave's `packages.entries` (+ `channels`): each entry is one match
 * spec, or `pip:<requirement>` for pip. Like Wave, `pip` itself is added when pip entries exist.
 */
export function environmentFromEntries(entries: string[], channels: string[] = [], options: EnvironmentLimits = {}): CondaEnvironment {
  checkSize(entries.reduce((total, entry) => total + Buffer.byteLength(String(entry), 'utf8'), 0), options);
  const problems: EnvironmentProblem[] = [];
  const environment: CondaEnvironment = { channels: readChannelList(channels, problems), dependencies: [], pip: [], variables: {} };
  if (entries.length === 0) problems.push({ line: null, message: 'entries must list at least one package' });
  entries.forEach((entry: unknown, index) => {
    const where = `entries[${index}]`;
    if (typeof entry !== 'string') {
      problems.push({ line: null, message: `${where} must be a string, not ${entry === null ? 'null' : typeof entry}` });
      return;
    }
    const trimmed = entry.trim();
    if (trimmed.startsWith('pip::')) {
      problems.push({ line: null, message: `${where} Invalid pip prefix - Likely you want to use '${trimmed.replace(/:+/g, ':')}' instead of '${trimmed}'` });
    } else if (trimmed.startsWith('pip:')) {
      const problem = pipRequirementProblem(trimmed.slice(4));
      if (problem) problems.push({ line: null, message: `${where} "${trimmed}" is not a valid pip requirement: ${problem}` });
      else environment.pip.push(trimmed.slice(4).trim());
    } else if (/^https?:\/\//i.test(trimmed)) {
      problems.push({ line: null, message: `${where} "${trimmed}" is a URL; conda lock file URLs are not supported, list packages instead` });
    } else {
      const problem = matchSpecProblem(trimmed);
      if (problem) problems.push({ line: null, message: `${where} ${problem}` });
      else environment.dependencies.push(trimmed);
    }
  });
  if (problems.length > 0) throw new EnvironmentFileError(problems);
  if (environment.pip.length > 0 && !environment.dependencies.some(isPipPackage)) environment.dependencies.push('pip');
  return environment;
}

/** Wave's merge of request `channels` into an environment file: appended after the file's own, without repeats. */
export function appendChannels(environment: CondaEnvironment, channels: string[]): CondaEnvironment {
  const problems: EnvironmentProblem[] = [];
  const extra = readChannelList(channels, problems);
  if (problems.length > 0) throw new EnvironmentFileError(problems);
  return { ...environment, channels: unique([...environment.channels, ...extra]) };
}

/**
 * The canonical environment.yml of an environment: fixed key order, two-space indentation,
 * strings quoted only where YAML needs it, variables sorted. Equal environments give equal bytes,
 * independent of the `yaml` package's formatting choices, because the build id hashes this text.
 */
export function renderEnvironmentFile(environment: CondaEnvironment): string {
  const lines: string[] = [];
  if (environment.name !== undefined) lines.push(`name: ${yamlString(environment.name)}`);
  if (environment.channels.length > 0) lines.push('channels:', ...environment.channels.map((channel) => `  - ${yamlString(channel)}`));
  const empty = environment.dependencies.length === 0 && environment.pip.length === 0;
  lines.push(empty ? 'dependencies: []' : 'dependencies:');
  lines.push(...environment.dependencies.map((dependency) => `  - ${yamlString(dependency)}`));
  if (environment.pip.length > 0) lines.push('  - pip:', ...environment.pip.map((requirement) => `      - ${yamlString(requirement)}`));
  const variableNames = Object.keys(environment.variables).sort();
  if (variableNames.length > 0) {
    lines.push('variables:', ...variableNames.map((name) => `  ${yamlString(name)}: ${yamlString(environment.variables[name] as string)}`));
  }
  return `${lines.join('\n')}\n`;
}

const allowedKeys = ['name', 'channels', 'dependencies', 'prefix', 'variables'];
const environmentName = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const variableName = /^[A-Za-z_][A-Za-z0-9_]*$/;
const maxPipRequirementLength = 1000;

type YamlNode = unknown;

/** Walks the parsed document, collecting problems with their lines instead of stopping at the first. */
class EnvironmentReader {
  private readonly problems: EnvironmentProblem[] = [];
  private readonly environment: CondaEnvironment = { channels: [], dependencies: [], pip: [], variables: {} };

  constructor(private readonly lineCounter: LineCounter) {}

  reportAt(offset: number | undefined, message: string): void {
    this.problems.push({ line: offset === undefined ? null : this.lineCounter.linePos(offset).line, message });
  }

  report(node: YamlNode, message: string, fallback?: YamlNode): void {
    this.reportAt(startOf(node) ?? startOf(fallback), message);
  }

  readRoot(root: YamlNode): void {
    if (root === null || root === undefined) {
      this.problems.push({ line: null, message: 'the file is empty; expected a mapping with channels and dependencies' });
      return;
    }
    if (!isMap(root)) {
      this.report(root, `the top level must be a mapping of ${allowedKeys.join(', ')}, not ${describe(root)}`);
      return;
    }
    const seen = new Set<string>();
    for (const pair of root.items as Pair[]) {
      const key = isScalar(pair.key) && typeof pair.key.value === 'string' ? pair.key.value : undefined;
      if (key === undefined) this.report(pair.key, `keys must be plain strings, not ${describe(pair.key)}`);
      else if (!allowedKeys.includes(key)) this.report(pair.key, `unknown key "${key}" (allowed: ${allowedKeys.join(', ')})`);
      else {
        seen.add(key);
        this.readKey(key, pair);
      }
    }
    if (!seen.has('dependencies')) this.report(root, 'missing key "dependencies"');
  }

  finish(): CondaEnvironment {
    if (this.problems.length > 0) throw new EnvironmentFileError(sortByLine(this.problems));
    const { name, ...rest } = this.environment;
    return name === undefined ? rest : { name, ...rest };
  }

  private readKey(key: string, pair: Pair): void {
    const value: YamlNode = pair.value;
    if (isAlias(value)) this.report(value, `${key}: YAML aliases (*name) are not supported`);
    else if (key === 'name') this.readName(value, pair.key);
    else if (key === 'channels') this.readChannels(value, pair.key);
    else if (key === 'dependencies') this.readDependencies(value, pair.key);
    else if (key === 'prefix') this.readString(value, pair.key, 'prefix');
    else this.readVariables(value, pair.key);
  }

  private readString(node: YamlNode, keyNode: YamlNode, where: string): string | undefined {
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    this.report(node, `${where} must be a string, not ${describe(node)}`, keyNode);
    return undefined;
  }

  private readName(node: YamlNode, keyNode: YamlNode): void {
    const name = this.readString(node, keyNode, 'name');
    if (name === undefined) return;
    if (environmentName.test(name)) this.environment.name = name;
    else this.report(node, `name "${name}" is not a valid environment name: use letters, digits, "_", "." and "-" (at most 128)`);
  }

  private readChannels(node: YamlNode, keyNode: YamlNode): void {
    if (!isSeq(node)) {
      this.report(node, `channels must be a list of channel names or URLs, not ${describe(node)}`, keyNode);
      return;
    }
    const channels: string[] = [];
    node.items.forEach((item, index) => {
      const channel = this.readString(item, node, `channels[${index}]`);
      if (channel === undefined) return;
      const problem = channelProblem(channel);
      if (problem) this.report(item, `channels[${index}] ${problem}`);
      else channels.push(channel.trim());
    });
    this.environment.channels = unique(channels);
  }

  private readDependencies(node: YamlNode, keyNode: YamlNode): void {
    if (!isSeq(node)) {
      this.report(node, `dependencies must be a list of conda match specs, not ${describe(node)}`, keyNode);
      return;
    }
    let pipMappingSeen = false;
    node.items.forEach((item, index) => {
      const where = `dependencies[${index}]`;
      if (isMap(item)) {
        if (pipMappingSeen && isPipMapping(item)) this.report(item, `${where}: only one "pip:" mapping is allowed`);
        else this.readPipMapping(item, where);
        pipMappingSeen ||= isPipMapping(item);
        return;
      }
      if (!isScalar(item) || typeof item.value !== 'string') {
        this.report(item, `${where} must be a conda match spec string or a "pip:" mapping, not ${describe(item)}`, node);
        return;
      }
      const problem = matchSpecProblem(item.value);
      if (problem) this.report(item, `${where} ${problem}`);
      else this.environment.dependencies.push(item.value.trim());
    });
  }

  private readPipMapping(node: YamlNode, where: string): void {
    if (!isMap(node)) return;
    const pairs = node.items as Pair[];
    const pair = pairs[0];
    if (pair === undefined || !isPipMapping(node)) {
      const found = pairs.map((p) => (isScalar(p.key) ? String(p.key.value) : describe(p.key))).join('", "');
      this.report(node, `${where}: the only mapping allowed in dependencies is "pip:" with a list of requirements (found "${found}")`);
      return;
    }
    const list: YamlNode = pair.value;
    if (!isSeq(list)) {
      this.report(list, `${where}.pip must be a list of pip requirements, not ${describe(list)}`, pair.key);
      return;
    }
    list.items.forEach((item, index) => {
      const requirement = this.readString(item, list, `${where}.pip[${index}]`);
      if (requirement === undefined) return;
      const problem = pipRequirementProblem(requirement);
      if (problem) this.report(item, `${where}.pip[${index}] "${requirement}" is not a valid pip requirement: ${problem}`);
      else this.environment.pip.push(requirement.trim());
    });
  }

  private readVariables(node: YamlNode, keyNode: YamlNode): void {
    if (!isMap(node)) {
      this.report(node, `variables must be a mapping of NAME: value, not ${describe(node)}`, keyNode);
      return;
    }
    const variables: Record<string, string> = {};
    for (const pair of node.items as Pair[]) {
      const name = isScalar(pair.key) && typeof pair.key.value === 'string' ? pair.key.value : undefined;
      if (name === undefined || !variableName.test(name)) {
        this.report(pair.key, `variables: ${name === undefined ? describe(pair.key) : `"${name}"`} is not a valid environment variable name`);
        continue;
      }
      const value = scalarText(pair.value);
      if (value === undefined) this.report(pair.value, `variables.${name} must be a string, number or boolean, not ${describe(pair.value)}`, pair.key);
      else if (/[\u0000-\u001f\u007f]/.test(value)) this.report(pair.value, `variables.${name} must be a single line without control characters`);
      else variables[name] = value;
    }
    this.environment.variables = Object.fromEntries(Object.entries(variables).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}

function checkSize(bytes: number, options: EnvironmentLimits): void {
  const maxBytes = options.maxBytes ?? defaultMaxCondaFileBytes;
  if (bytes > maxBytes) {
    throw new EnvironmentFileError([{ line: null, message: `Conda file size exceeds the maximum allowed size of ${maxBytes} bytes` }]);
  }
}

function readChannelList(channels: string[], problems: EnvironmentProblem[]): string[] {
  const valid: string[] = [];
  channels.forEach((channel: unknown, index) => {
    if (typeof channel !== 'string') {
      problems.push({ line: null, message: `channels[${index}] must be a string, not ${channel === null ? 'null' : typeof channel}` });
      return;
    }
    const problem = channelProblem(channel);
    if (problem) problems.push({ line: null, message: `channels[${index}] ${problem}` });
    else valid.push(channel.trim());
  });
  return unique(valid);
}

function matchSpecProblem(spec: string): string | undefined {
  try {
    parseMatchSpec(spec);
    return undefined;
  } catch (error) {
    if (error instanceof MatchSpecError) return error.message;
    throw error;
  }
}

function channelProblem(channel: string): string | undefined {
  try {
    parseChannel(channel);
    return undefined;
  } catch (error) {
    if (error instanceof CondaChannelError) return error.message;
    throw error;
  }
}

/** Pip's own grammar is pip's business; here only what would break the file or the build log is refused. */
function pipRequirementProblem(requirement: string): string | undefined {
  const trimmed = requirement.trim();
  if (trimmed === '') return 'it is empty';
  if (trimmed.length > maxPipRequirementLength) return `it is longer than ${maxPipRequirementLength} characters`;
  if (/[\u0000-\u001f\u007f]/.test(trimmed)) return 'it contains a line break or control character';
  return undefined;
}

/** `- pip: [...]` in dependencies: a mapping whose single key is "pip". */
function isPipMapping(node: YamlNode): boolean {
  if (!isMap(node) || node.items.length !== 1) return false;
  const key = (node.items[0] as Pair).key;
  return isScalar(key) && key.value === 'pip';
}

function isPipPackage(spec: string): boolean {
  try {
    return parseMatchSpec(spec).name.toLowerCase() === 'pip';
  } catch {
    return false;
  }
}

/** A scalar's text as written (so `OMP_NUM_THREADS: 1.10` stays "1.10"), or undefined for null and collections. */
function scalarText(node: YamlNode): string | undefined {
  if (!isScalar(node) || node.value === null) return undefined;
  if (typeof node.value === 'string') return node.value;
  if (typeof node.value === 'number' || typeof node.value === 'boolean') return node.source ?? String(node.value);
  return undefined;
}

function describe(node: YamlNode): string {
  if (node === null || node === undefined) return 'empty';
  if (isAlias(node)) return 'a YAML alias';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    if (node.value === null) return 'empty';
    if (typeof node.value === 'string') return `"${node.value}"`;
    return `the ${typeof node.value === 'boolean' ? 'boolean' : typeof node.value === 'number' ? 'number' : 'value'} ${node.source ?? String(node.value)}`;
  }
  return 'an unsupported value';
}

function startOf(node: YamlNode): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const range = (node as { range?: [number, number, number] | null }).range;
  return range ? range[0] : undefined;
}

function sortByLine(problems: EnvironmentProblem[]): EnvironmentProblem[] {
  return problems
    .map((problem, order) => ({ problem, order }))
    .sort((a, b) => (a.problem.line ?? 0) - (b.problem.line ?? 0) || a.order - b.order)
    .map(({ problem }) => problem);
}

function formatProblem(problem: EnvironmentProblem): string {
  return problem.line === null ? problem.message : `line ${problem.line}: ${problem.message}`;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/** Characters that keep a plain YAML scalar a string in YAML 1.1 and 1.2 readers alike (yaml-cpp in micromamba, PyYAML in conda). */
const plainScalar = /^[A-Za-z0-9_/][A-Za-z0-9_ .\/+=<>!~*,|()\-:'[\]%]*$/;
const ambiguousPlainScalar = /^(?:[-+]?[\d._]+(?:e[-+]?\d+)?|0x[\da-f]+|0o[0-7]+|true|false|yes|no|on|off|y|n|null)$/i;

function yamlString(value: string): string {
  const plain =
    plainScalar.test(value) && !ambiguousPlainScalar.test(value) && !value.includes(': ') && !value.includes(' #') && !/[\s:]$/.test(value);
  return plain ? value : JSON.stringify(value);
}
