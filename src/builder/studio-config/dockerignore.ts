// `.dockerignore` rules, applied the way Docker applies them (moby's `ignorefile` reader and
// `patternmatcher`, as documented at docs.docker.com "Dockerfile reference → .dockerignore file").
//
// Reading a file:
// - each line is trimmed; a line whose first non-blank character is `#` is a comment; blank lines are skipped;
//   a UTF-8 byte-order mark at the start is dropped;
// - a leading `!` makes the line an exception (re-includes what earlier lines excluded); the rest is trimmed again,
//   and a bare `!` is an error;
// - the pattern is cleaned like Go's `filepath.Clean` (`./a`, `a/`, `a//b`, `a/x/../b` → `a`, `a`, `a/b`, `a/b`)
//   and one leading `/` is dropped, because the context root is both the working and the root directory.
//
// Matching a path (relative to the context root, `/`-separated):
// - `*` is any run of characters except `/`; `?` is one character except `/`; `[…]` is a character class
//   (`^` negates; `\` escapes; ranges `a-z`); `\x` is the literal `x`;
// - `**` matches any number of directories, including none (`**/x` matches `x` and `a/b/x`); a trailing `**`
//   matches everything below (`a/**` matches `a/b` and `a/b/c`, not `a`);
// - a pattern that starts with `**` and has no other wildcard is a suffix test (`**x` matches `ax` and `a/x`);
// - a rule applies to a path when it matches the path itself or one of its parent directories, so `node_modules`
//   excludes everything under it;
// - the last rule that applies wins, so `!keep/me` after `keep` re-includes `keep/me`.
//
// Errors are those Docker would stop a build with: a bare `!`, an unterminated `[`, a class range that runs
// backwards, a malformed class (`[]`, `[-x]`, `[x-]`), and a trailing `\`.

export class DockerignoreError extends Error {
  /** 1-based line of the offending pattern in the `.dockerignore` text. */
  readonly line: number;

  constructor(line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'DockerignoreError';
    this.line = line;
  }
}

export interface DockerignoreRule {
  /** The pattern after cleaning, without the `!`. */
  readonly pattern: string;
  /** An exception (`!pattern`) re-includes what it matches. */
  readonly exception: boolean;
  /** 1-based line in the file it came from. */
  readonly line: number;
  /** Whether the rule matches exactly this path (no parent-directory logic). */
  matches(path: string): boolean;
}

export class Dockerignore {
  readonly rules: readonly DockerignoreRule[];
  /** True when at least one rule is an exception, so an excluded directory may still hold included files. */
  readonly hasExceptions: boolean;

  private constructor(rules: DockerignoreRule[]) {
    this.rules = rules;
    this.hasExceptions = rules.some((rule) => rule.exception);
  }

  /** Parses `.dockerignore` text; throws DockerignoreError (with the line) for a pattern Docker would refuse. */
  static parse(text: string): Dockerignore {
    const rules: DockerignoreRule[] = [];
    const lines = text.split('\n');
    lines.forEach((raw, index) => {
      const rule = parseLine(index === 0 ? raw.replace(/^\uFEFF/, '') : raw, index + 1);
      if (rule) rules.push(rule);
    });
    return new Dockerignore(rules);
  }

  /** No rules: nothing is excluded. */
  static empty(): Dockerignore {
    return new Dockerignore([]);
  }

  /**
   * Whether `path` (relative to the context root, `/`-separated, no leading `./`) is left out of the build
   * context. The last rule that matches the path or one of its parent directories decides.
   */
  excludes(path: string): boolean {
    const target = normalisePath(path);
    if (target === '') return false; // the context root itself is never excluded
    const parents = parentDirectories(target);
    let excluded = false;
    for (const rule of this.rules) {
      // An ordinary rule can only change an included path, an exception only an excluded one.
      if (rule.exception !== excluded) continue;
      if (rule.matches(target) || parents.some((parent) => rule.matches(parent))) excluded = !rule.exception;
    }
    return excluded;
  }

  /**
   * Whether a walk may skip everything below `directory`: it is excluded and no exception could bring any of its
   * contents back. Skipping is then only a shortcut — every path below it would be excluded anyway.
   */
  prunes(directory: string): boolean {
    return !this.hasExceptions && this.excludes(directory);
  }
}

/** Convenience for callers that only hold the text. */
export function parseDockerignore(text: string): Dockerignore {
  return Dockerignore.parse(text);
}

function parseLine(raw: string, line: number): DockerignoreRule | null {
  let text = raw.trim();
  if (text === '' || text.startsWith('#')) return null;
  const exception = text.startsWith('!');
  if (exception) text = text.slice(1).trim();
  if (text !== '') {
    text = cleanPath(text);
    if (text.length > 1 && text.startsWith('/')) text = text.slice(1);
  }
  // `!` alone, and `!/` (which Docker cleans down to `!`), exclude nothing and are refused by Docker.
  if (exception && (text === '' || text === '/')) throw new DockerignoreError(line, 'illegal exclusion pattern: "!"');
  return { pattern: text, exception, line, matches: compilePattern(text, line) };
}

/** Go's `filepath.Clean` for `/`-separated paths: collapses `//`, `.` and `dir/..`, drops a trailing `/`. */
export function cleanPath(path: string): string {
  const rooted = path.startsWith('/');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
      else if (!rooted) parts.push('..');
      continue;
    }
    parts.push(part);
  }
  const joined = parts.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

function normalisePath(path: string): string {
  const cleaned = cleanPath(path);
  if (cleaned === '.' || cleaned === '/') return '';
  return cleaned.startsWith('/') ? cleaned.slice(1) : cleaned;
}

function parentDirectories(path: string): string[] {
  const parts = path.split('/');
  const parents: string[] = [];
  for (let i = 1; i < parts.length; i++) parents.push(parts.slice(0, i).join('/'));
  return parents;
}

type MatchKind = 'exact' | 'prefix' | 'suffix' | 'regexp';

/**
 * Turns one cleaned pattern into a test. Docker classifies patterns before matching, and the classes differ in
 * edge cases, so we classify the same way: no wildcard at all → equality; wildcards only as a trailing `**` →
 * prefix test; a leading `**` and no other wildcard → suffix test; anything else → an anchored regular expression.
 */
function compilePattern(pattern: string, line: number): (path: string) => boolean {
  const chars = Array.from(pattern);
  let kind: MatchKind = 'exact';
  let source = '';
  for (let i = 0, token = 0; i < chars.length; token++) {
    const ch = chars[i++]!;
    if (ch === '*' && chars[i] === '*') {
      i++;
      if (chars[i] === '/') i++; // `**/` behaves as `**`
      if (i === chars.length) {
        if (kind === 'exact') kind = 'prefix';
        else {
          source += '[^\\n]*';
          kind = 'regexp';
        }
      } else {
        source += '(?:[^\\n]*/)?';
        kind = 'regexp';
      }
      if (token === 0) kind = 'suffix';
    } else if (ch === '*') {
      source += '[^/]*';
      kind = 'regexp';
    } else if (ch === '?') {
      source += '[^/]';
      kind = 'regexp';
    } else if (ch === '\\') {
      const escaped = chars[i++];
      if (escaped === undefined) throw new DockerignoreError(line, `pattern "${pattern}" ends with a lone "\\"`);
      source += escapeLiteral(escaped);
      kind = 'regexp';
    } else if (ch === '[') {
      const parsed = parseClass(chars, i, pattern, line);
      source += parsed.source;
      i = parsed.next;
      kind = 'regexp';
    } else {
      source += escapeLiteral(ch);
      if (ch === ']') kind = 'regexp';
    }
  }
  return matcherFor(kind, pattern, source);
}

function matcherFor(kind: MatchKind, pattern: string, source: string): (path: string) => boolean {
  switch (kind) {
    case 'exact':
      return (path) => path === pattern;
    case 'prefix': {
      const prefix = pattern.slice(0, -2);
      return (path) => path.startsWith(prefix);
    }
    case 'suffix': {
      const suffix = pattern.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp': {
      const expression = new RegExp(`^${source}$`, 'u');
      return (path) => expression.test(path);
    }
  }
}

/**
 * Parses a character class starting just after `[`, with the rules of Go's `filepath.Match`: an optional `^`,
 * then one or more `c` or `c-c` items where `c` may be `\`-escaped but may not be a bare `-` or `]`, then `]`.
 */
function parseClass(chars: string[], start: number, pattern: string, line: number): { source: string; next: number } {
  const fail = (why: string): never => {
    throw new DockerignoreError(line, `pattern "${pattern}" has a malformed character class: ${why}`);
  };
  let i = start;
  let source = '[';
  if (chars[i] === '^') {
    source += '^';
    i++;
  }
  const classChar = (): string => {
    let ch = chars[i];
    if (ch === undefined) return fail('missing "]"');
    if (ch === '-' || ch === ']') return fail(`unescaped "${ch}" where a character was expected`);
    if (ch === '\\') {
      i++;
      ch = chars[i];
      if (ch === undefined) return fail('missing "]"');
    }
    i++;
    if (i >= chars.length) return fail('missing "]"');
    return ch;
  };
  let items = 0;
  for (;;) {
    if (chars[i] === ']' && items > 0) {
      i++;
      break;
    }
    const low = classChar();
    let high = low;
    if (chars[i] === '-') {
      i++;
      high = classChar();
    }
    if (high.codePointAt(0)! < low.codePointAt(0)!) fail(`range "${low}-${high}" runs backwards`);
    source += high === low ? classEscape(low) : `${classEscape(low)}-${classEscape(high)}`;
    items++;
  }
  return { source: `${source}]`, next: i };
}

function escapeLiteral(ch: string): string {
  // Only syntax characters and `/` may be escaped in a `u` regular expression.
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? `\\${ch}` : ch;
}

function classEscape(ch: string): string {
  return `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}
