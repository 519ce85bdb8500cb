import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { clientEnvironment, configSchema, serverEnvironment, type BerthConfig } from './schema.ts';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadOptions {
  /** Explicit config file; otherwise $BERTH_CONFIG, then ./berth.yaml if it exists. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, highest precedence. */
  overrides?: DeepPartial<BerthConfig>;
  /** Defaults of the command (e.g. `berth up`'s embedded setup), lowest precedence: below the file. */
  defaults?: DeepPartial<BerthConfig>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Reads command defaults, file, environment and flags (in rising precedence) and validates the result. */
export async function loadConfig(options: LoadOptions = {}): Promise<BerthConfig> {
  const env = options.env ?? process.env;
  const file = options.file ?? env.BERTH_CONFIG ?? (existsSync('berth.yaml') ? 'berth.yaml' : undefined);
  const fromFile = file ? await readConfigFile(file) : {};
  const layered = deepMerge(deepMerge((options.defaults ?? {}) as Tree, fromFile), environmentValues(env));
  const merged = deepMerge(layered, (options.overrides ?? {}) as Tree);
  return validate(merged, file);
}

type Tree = Record<string, unknown>;

async function readConfigFile(file: string): Promise<Tree> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` line ${error.linePos[0].line}` : '';
    throw new ConfigError(`config file ${file}${where}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (value == null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`config file ${file}: the top level must be a mapping of keys`);
  }
  return value as Tree;
}

/** BERTH_STUDIO_TEMPLATES_<KEY>_<FIELD>: one field of one template (KEY `MY_TOOL` is template `my-tool`). */
const templateVariable = /^BERTH_STUDIO_TEMPLATES_([A-Z0-9_]+?)_(REPOSITORY|TOOL|PORT|STATUS|ICON)$/;
const templateFields: Record<string, string> = { REPOSITORY: 'repository', TOOL: 'tool', PORT: 'port', STATUS: 'status', ICON: 'icon' };

function environmentValues(env: NodeJS.ProcessEnv): Tree {
  const result: Tree = {};
  const known = new Set<string>([...Object.keys(serverEnvironment), ...clientEnvironment]);
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('BERTH_') || raw === undefined) continue;
    const template = templateVariable.exec(name);
    if (template) {
      setPath(result, ['studios', 'templates', template[1]!.toLowerCase().replaceAll('_', '-'), templateFields[template[2]!]!], template[2] === 'PORT' ? coerce(raw) : raw);
      continue;
    }
    if (!known.has(name)) {
      throw new ConfigError(`unknown environment variable ${name}; known: ${[...known].sort().join(', ')}`);
    }
    const path = serverEnvironment[name as keyof typeof serverEnvironment];
    if (!path) continue;
    setPath(result, path, coerce(raw));
  }
  return result;
}

/** Environment values are strings; numbers and booleans are recognised so the schema can check them. */
function coerce(raw: string): unknown {
  if (/^-?\d+$/.test(raw)) return Number(raw);
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}

function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Tree;
  node[path[path.length - 1]!] = value;
}

function deepMerge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const current = out[key];
    const bothTrees = isTree(current) && isTree(value);
    out[key] = bothTrees ? deepMerge(current, value) : value;
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function validate(tree: Tree, file: string | undefined): BerthConfig {
  const result = configSchema.safeParse(tree);
  if (result.success) return result.data;
  const source = file ? ` (file ${file} and BERTH_* environment)` : '';
  throw new ConfigError(`invalid configuration${source}:\n${describeIssues(result.error)}`);
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length ? `${issue.path.join('.')}.` : '';
        return issue.keys.map((key) => `  - ${prefix}${key}: unknown key`).join('\n');
      }
      return `  - ${issue.path.join('.') || '(top level)'}: ${issue.message}`;
    })
    .join('\n');
}
