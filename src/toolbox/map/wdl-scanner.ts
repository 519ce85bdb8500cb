import { literalText, startsStatement, untilLineEnd, type LexerSyntax, type Token } from './code-lexer.ts';
import { ScanCollector, type WorkflowFile, type WorkflowScanner } from './scan-results.ts';

const wdl: LexerSyntax = {
  lineComments: ['#'],
  blockComments: false,
  tripleQuotes: false,
  interpolation: () => ['~{', '${'],
  slashyStrings: false,
  stringPrefixes: false,
  rawCommandSections: true,
};

interface Resolved {
  text: string;
  literalStart?: number;
}

class Unresolvable extends Error {}

/** Sections whose `docker:` / `container:` keys name the task's image (WDL 1.0/1.1 `runtime`, 1.2 `requirements`). */
const runtimeSections = new Set(['runtime', 'requirements']);
const runtimeKeys = new Set(['docker', 'container']);

/**
 * WDL: `runtime { docker: … }` and `container:` (1.1), also `requirements` (1.2); a value may be a string, an array
 * of candidate images, the name of a declaration with a literal default (`String docker_image = "…"`), a field of a
 * struct-typed declaration whose default is an object literal, or `select_first([…])` over those.
 */
export const wdlScanner: WorkflowScanner = {
  language: 'wdl',
  matches: (path) => /\.wdl$/i.test(path),
  scan(files) {
    const collector = new ScanCollector('wdl');
    for (const file of files) scanFile(file, collector);
    return collector.result;
  },
};

interface Block {
  kind: string;
  name: string;
}

function scanFile(file: WorkflowFile, collector: ScanCollector): void {
  const tokens = collector.tokens(file, wdl, 'WDL file');
  if (!tokens) return;
  const declarations = new Map<string, Token[]>();
  const sites: Array<{ owner: string; tokens: Token[]; keyOffset: number }> = [];
  const stack: Block[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.type === 'punct' && token.text === '{') {
      stack.push(blockOpenedAt(tokens, i));
      continue;
    }
    if (token.type === 'punct' && token.text === '}') {
      stack.pop();
      continue;
    }
    if (token.type !== 'word') continue;
    const owner = ownerOf(stack);
    const block = stack[stack.length - 1];
    const next = tokens[i + 1];
    if (next?.type === 'punct' && next.text === '=' && isDeclaredName(tokens, i) && block && ['task', 'workflow', 'input'].includes(block.kind)) {
      const key = `${owner}:${token.text}`;
      if (!declarations.has(key)) declarations.set(key, untilLineEnd(tokens, i + 2));
    } else if (block && runtimeSections.has(block.kind) && runtimeKeys.has(token.text) && next?.type === 'punct' && next.text === ':' && startsStatement(tokens, i)) {
      sites.push({ owner, tokens: untilLineEnd(tokens, i + 2), keyOffset: token.start });
    }
  }

  const resolver = new WdlResolver(file, declarations);
  for (const site of sites) {
    const at = { file, offset: site.tokens[0]?.start ?? site.keyOffset, end: site.tokens[site.tokens.length - 1]?.end ?? site.keyOffset };
    try {
      for (const value of resolver.resolve(site.owner, site.tokens)) {
        collector.container({ at, text: value.text, ...(value.literalStart !== undefined ? { literal: { file, start: value.literalStart } } : {}) });
      }
    } catch (error) {
      if (!(error instanceof Unresolvable)) throw error;
      collector.problem(file, at.offset, `cannot resolve the runtime image: ${error.message}`);
    }
  }
}

/** What a `{` opens: `task NAME {`, `workflow NAME {`, `struct NAME {`, or a section named by the word before it. */
function blockOpenedAt(tokens: Token[], index: number): Block {
  const name = tokens[index - 1];
  const keyword = tokens[index - 2];
  if (name?.type === 'word' && keyword?.type === 'word' && ['task', 'workflow', 'struct'].includes(keyword.text)) {
    return { kind: keyword.text, name: name.text };
  }
  if (name?.type === 'word') return { kind: name.text, name: '' };
  return { kind: '', name: '' };
}

/** The task (or workflow) a position is in: declarations are looked up there first. */
function ownerOf(stack: Block[]): string {
  for (let i = stack.length - 1; i >= 0; i--) {
    const block = stack[i]!;
    if (block.kind === 'task' || block.kind === 'workflow') return block.name;
  }
  return '';
}

/** `Type name = …`: a word preceded by a type (a word, `?`, `+` or `]`) at the start of its statement. */
function isDeclaredName(tokens: Token[], index: number): boolean {
  const before = tokens[index - 1];
  if (!before) return false;
  const typeEnd = before.type === 'word' || (before.type === 'punct' && ['?', '+', ']'].includes(before.text));
  if (!typeEnd) return false;
  let start = index - 1;
  while (start > 0 && !startsStatement(tokens, start)) start--;
  return tokens[start]?.type === 'word';
}

class WdlResolver {
  private depth = 0;

  constructor(
    private readonly file: WorkflowFile,
    private readonly declarations: Map<string, Token[]>,
  ) {}

  resolve(owner: string, raw: Token[]): Resolved[] {
    const tokens = raw.filter((t) => t.type !== 'newline');
    const first = tokens[0];
    if (!first) throw new Unresolvable('it has no value');
    if (tokens.length === 1 && first.type === 'string') {
      const literal = literalText(first);
      if (literal !== undefined) return [{ text: literal, literalStart: first.contentStart }];
      const only = first.parts.length === 1 ? first.parts[0] : undefined;
      if (only?.type === 'expression') return this.resolve(owner, only.tokens);
      throw new Unresolvable(`"${this.source(tokens)}" is put together from several values`);
    }
    if (first.type === 'punct' && first.text === '[' && isPunctToken(tokens[tokens.length - 1], ']')) {
      return splitList(tokens.slice(1, -1)).flatMap((element) => this.resolve(owner, element));
    }
    if (first.type === 'word' && first.text === 'select_first' && isPunctToken(tokens[1], '(') && isPunctToken(tokens[2], '[')) {
      const candidates = splitList(tokens.slice(3, -2)).flatMap((element) => this.attempt(owner, element));
      if (candidates.length === 0) throw new Unresolvable(`none of the choices of "${this.source(tokens)}" has a literal value`);
      return candidates;
    }
    if (first.type === 'word' && tokens.length === 1) return this.declared(owner, first.text, (value) => this.resolve(owner, value));
    if (first.type === 'word' && tokens.length === 3 && isPunctToken(tokens[1], '.') && tokens[2]!.type === 'word') {
      const field = tokens[2]!.text;
      return this.declared(owner, first.text, (value) => this.resolve(owner, fieldOf(value, field, `${first.text}.${field}`)));
    }
    throw new Unresolvable(`"${this.source(tokens)}" is an expression, not a literal or a declaration with a literal default`);
  }

  private attempt(owner: string, tokens: Token[]): Resolved[] {
    try {
      return this.resolve(owner, tokens);
    } catch (error) {
      if (error instanceof Unresolvable) return [];
      throw error;
    }
  }

  private declared(owner: string, name: string, use: (value: Token[]) => Resolved[]): Resolved[] {
    const value = this.declarations.get(`${owner}:${name}`) ?? this.anyDeclaration(name);
    if (!value) throw new Unresolvable(`${name} has no default value in this file (give the image as a literal or as the default of ${name})`);
    if (this.depth > 10) throw new Unresolvable(`${name} refers to itself`);
    this.depth++;
    try {
      return use(value);
    } finally {
      this.depth--;
    }
  }

  private anyDeclaration(name: string): Token[] | undefined {
    for (const [key, value] of this.declarations) if (key.endsWith(`:${name}`)) return value;
    return undefined;
  }

  private source(tokens: Token[]): string {
    const text = this.file.content.slice(tokens[0]!.start, tokens[tokens.length - 1]!.end).replace(/\s+/g, ' ');
    return text.length > 160 ? `${text.slice(0, 157)}...` : text;
  }
}

/** `object { docker: "…", cpu: 1 }` or `Struct { docker: "…" }`: the value of one field. */
function fieldOf(value: Token[], field: string, what: string): Token[] {
  const open = value.findIndex((t) => isPunctToken(t, '{'));
  if (open < 0) throw new Unresolvable(`${what}: the default is not an object literal`);
  const body = value.slice(open + 1, value.length - (isPunctToken(value[value.length - 1], '}') ? 1 : 0)).filter((t) => t.type !== 'newline');
  for (const entry of splitList(body)) {
    const key = entry[0];
    if (key?.type === 'word' && key.text === field && isPunctToken(entry[1], ':')) return entry.slice(2);
  }
  throw new Unresolvable(`${what}: the default object has no ${field} field`);
}

/** Elements of a comma-separated list, commas inside brackets left alone. */
function splitList(tokens: Token[]): Token[][] {
  const elements: Token[][] = [];
  let current: Token[] = [];
  let depth = 0;
  for (const token of tokens) {
    if (token.type === 'newline') continue;
    if (token.type === 'punct' && ['(', '[', '{'].includes(token.text)) depth++;
    if (token.type === 'punct' && [')', ']', '}'].includes(token.text)) depth--;
    if (depth === 0 && isPunctToken(token, ',')) {
      elements.push(current);
      current = [];
      continue;
    }
    current.push(token);
  }
  if (current.length > 0) elements.push(current);
  return elements;
}

function isPunctToken(token: Token | undefined, text: string): boolean {
  return token?.type === 'punct' && token.text === text;
}
