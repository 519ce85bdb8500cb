import { literalText, startsStatement, untilLineEnd, type LexerSyntax, type Token } from './code-lexer.ts';
import { ScanCollector, type ScanResult, type WorkflowFile, type WorkflowScanner } from './scan-results.ts';

const groovy: LexerSyntax = {
  lineComments: ['//'],
  blockComments: true,
  tripleQuotes: true,
  interpolation: (quote) => (quote.startsWith('"') ? ['${', '$'] : []),
  slashyStrings: true,
  stringPrefixes: false,
  rawCommandSections: false,
};

/** A value as far as it can be worked out: its text, and where it is written when it is one literal. */
interface Resolved {
  text: string;
  literal?: { file: WorkflowFile; start: number };
}

/** A `name = value` assignment kept for later: the value's tokens in their file. */
interface Assignment {
  file: WorkflowFile;
  tokens: Token[];
}

/** Engines whose `<engine>.registry` Nextflow puts before names without a registry host; docker's wins, then podman's. */
const engineRegistries: Record<string, number> = { docker: 0, podman: 1 };

function isEngine(name: string): boolean {
  return Object.hasOwn(engineRegistries, name);
}

interface RegistrySetting extends Assignment {
  engine: string;
}

interface TokenizedFile {
  file: WorkflowFile;
  tokens: Token[];
}

class Unresolvable extends Error {}

/**
 * Nextflow: `container` directives in processes and modules (nf-core's `workflow.containerEngine` ternaries
 * included), `process.container`, `process { container = … }` and `withName:`/`withLabel:` selectors in
 * configuration, `params` defaults they name, and `docker.registry` (else `podman.registry`), which Nextflow puts
 * before names that have no registry host.
 */
export const nextflowScanner: WorkflowScanner = {
  language: 'nextflow',
  matches: (path) => /\.nf$/.test(path) || /(^|\/)nextflow\.config$/.test(path) || /(^|\/)conf\/.*\.config$/.test(path),
  scan: scanNextflow,
};

function scanNextflow(files: readonly WorkflowFile[]): ScanResult {
  const collector = new ScanCollector('nextflow');
  const tokenized: TokenizedFile[] = [];
  for (const file of files) {
    const tokens = collector.tokens(file, groovy, 'Nextflow file');
    if (tokens) tokenized.push({ file, tokens });
  }
  // The top-level nextflow.config first: what it says wins over included and nested configuration.
  tokenized.sort((a, b) => configRank(a.file.path) - configRank(b.file.path) || a.file.path.localeCompare(b.file.path));

  const params = new Map<string, Assignment>();
  const registries: RegistrySetting[] = [];
  const containers: Assignment[] = [];
  for (const { file, tokens } of tokenized) collectStatements(file, tokens, params, registries, containers);

  const resolver = new ValueResolver(params);
  const defaultRegistry = registryFrom(registries, resolver, collector);
  for (const site of containers) {
    const at = { file: site.file, offset: site.tokens[0]?.start ?? 0, end: site.tokens[site.tokens.length - 1]?.end ?? 0 };
    if (site.tokens.length === 0) {
      collector.problem(site.file, at.offset, 'a container directive without a value');
      continue;
    }
    try {
      for (const value of resolver.resolveAll(site.file, site.tokens)) {
        collector.container({ at, text: value.text, ...(value.literal ? { literal: value.literal } : {}), ...(defaultRegistry ? { defaultRegistry } : {}) });
      }
    } catch (error) {
      if (!(error instanceof Unresolvable)) throw error;
      collector.problem(site.file, at.offset, `cannot resolve the container "${sourceOf(site.file, site.tokens)}": ${error.message}`);
    }
  }
  return collector.result;
}

function configRank(path: string): number {
  if (path === 'nextflow.config') return 0;
  if (path.endsWith('nextflow.config')) return 1;
  return path.endsWith('.config') ? 2 : 3;
}

/** Walks one file's statements, keeping params defaults, registry settings and container directives. */
function collectStatements(file: WorkflowFile, tokens: Token[], params: Map<string, Assignment>, registries: RegistrySetting[], containers: Assignment[]): void {
  const scopes: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.type === 'punct' && token.text === '{') {
      const before = tokens[i - 1];
      scopes.push(before?.type === 'word' ? before.text : '');
      continue;
    }
    if (token.type === 'punct' && token.text === '}') {
      scopes.pop();
      continue;
    }
    if (token.type !== 'word' || !startsStatement(tokens, i)) continue;
    const path = dottedPath(tokens, i);
    const afterPath = i + path.length * 2 - 1;
    const scope = scopes[scopes.length - 1];
    const names = scope === 'params' || (scope !== undefined && isEngine(scope)) ? [scope, ...path] : path;
    const assignedValue = () => (isPunct(tokens[afterPath], '=') ? untilLineEnd(tokens, afterPath + 1) : undefined);

    if (names[0] === 'params' && names.length === 2) {
      const value = assignedValue();
      if (value && !params.has(names[1]!)) params.set(names[1]!, { file, tokens: value });
    } else if (names.length === 2 && names[1] === 'registry' && isEngine(names[0]!)) {
      const value = assignedValue();
      if (value) registries.push({ file, tokens: value, engine: names[0]! });
    } else if (path[path.length - 1] === 'container' && (path.length === 1 || path.join('.') === 'process.container')) {
      const valueStart = isPunct(tokens[afterPath], '=') ? afterPath + 1 : afterPath;
      containers.push({ file, tokens: untilLineEnd(tokens, valueStart) });
    }
  }
}

/** `a.b.c` starting at `index`: the words, without the dots. */
function dottedPath(tokens: Token[], index: number): string[] {
  const words: string[] = [];
  let i = index;
  while (tokens[i]?.type === 'word') {
    words.push((tokens[i] as { text: string }).text);
    if (!isPunct(tokens[i + 1], '.') || tokens[i + 2]?.type !== 'word') break;
    i += 2;
  }
  return words;
}

function registryFrom(registries: RegistrySetting[], resolver: ValueResolver, collector: ScanCollector): string | undefined {
  // The first file's setting for the preferred engine (the sort is stable: file order is kept within an engine).
  const first = [...registries].sort((a, b) => engineRegistries[a.engine]! - engineRegistries[b.engine]!)[0];
  if (!first) return undefined;
  try {
    const values = resolver.resolveAll(first.file, first.tokens);
    if (values.length === 1 && values[0]!.text.trim()) return values[0]!.text.trim().replace(/\/+$/, '');
    throw new Unresolvable('it is not one name');
  } catch (error) {
    if (!(error instanceof Unresolvable)) throw error;
    collector.problem(first.file, first.tokens[0]?.start ?? 0, `cannot resolve ${first.engine}.registry "${sourceOf(first.file, first.tokens)}": ${error.message}; names without a registry host are taken as Docker Hub's`);
    return undefined;
  }
}

/** Works out a Groovy value made of literals, `params.x` defaults, GStrings and `cond ? a : b`. */
class ValueResolver {
  private depth = 0;

  constructor(private readonly params: Map<string, Assignment>) {}

  /** Every value the expression can have (both branches of a ternary). */
  resolveAll(file: WorkflowFile, tokens: Token[]): Resolved[] {
    const expression = tokens.filter((t) => t.type !== 'newline');
    const ternary = splitTernary(expression);
    if (ternary) return [...this.resolveAll(file, ternary.whenTrue), ...this.resolveAll(file, ternary.whenFalse)];
    if (expression.length === 1 && expression[0]!.type === 'string') return this.resolveString(file, expression[0]!);
    if (expression.length === 3 && isWord(expression[0], 'params') && isPunct(expression[1], '.') && expression[2]!.type === 'word') {
      return this.resolveParam(expression[2]!.text);
    }
    if (expression.length === 0) throw new Unresolvable('it is empty');
    throw new Unresolvable('it is an expression, not a literal name or a params value with a default');
  }

  private resolveString(file: WorkflowFile, token: Token & { type: 'string' }): Resolved[] {
    const literal = literalText(token);
    if (literal !== undefined) return [{ text: literal, literal: { file, start: token.contentStart } }];
    const meaningful = token.parts.filter((p) => p.type === 'expression' || p.text.trim() !== '');
    const only = meaningful[0];
    if (meaningful.length === 1 && only?.type === 'expression') return this.resolveAll(file, only.tokens);
    // A name put together from pieces ("${params.registry}/tool:1.0"): its text is known, but not one place to rewrite.
    let text = '';
    for (const part of token.parts) {
      if (part.type === 'text') {
        text += part.text;
        continue;
      }
      const values = this.resolveAll(file, part.tokens);
      if (values.length !== 1) throw new Unresolvable('a part of it has more than one value');
      text += values[0]!.text;
    }
    return [{ text }];
  }

  private resolveParam(name: string): Resolved[] {
    const assignment = this.params.get(name);
    if (!assignment) throw new Unresolvable(`params.${name} has no default in the workflow's files`);
    if (this.depth > 10) throw new Unresolvable(`params.${name} refers to itself`);
    this.depth++;
    try {
      return this.resolveAll(assignment.file, assignment.tokens);
    } finally {
      this.depth--;
    }
  }
}

/** `cond ? a : b` at the top level of an expression (not `?.` or `?:`, which are other operators). */
function splitTernary(tokens: Token[]): { whenTrue: Token[]; whenFalse: Token[] } | undefined {
  let depth = 0;
  let question = -1;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.type !== 'punct') continue;
    if (['(', '[', '{'].includes(token.text)) depth++;
    else if ([')', ']', '}'].includes(token.text)) depth--;
    else if (depth === 0 && token.text === '?' && question < 0) question = i;
    else if (depth === 0 && token.text === ':' && question >= 0) {
      return { whenTrue: tokens.slice(question + 1, i), whenFalse: tokens.slice(i + 1) };
    }
  }
  return undefined;
}

function isPunct(token: Token | undefined, text: string): boolean {
  return token?.type === 'punct' && token.text === text;
}

function isWord(token: Token | undefined, text: string): boolean {
  return token?.type === 'word' && token.text === text;
}

function sourceOf(file: WorkflowFile, tokens: Token[]): string {
  const first = tokens[0];
  const last = tokens[tokens.length - 1];
  const text = first && last ? file.content.slice(first.start, last.end) : '';
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 160 ? `${oneLine.slice(0, 157)}...` : oneLine;
}
