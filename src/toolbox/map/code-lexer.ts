/**
 * A small tokenizer for the script languages workflows are written in (Groovy for Nextflow, WDL,
 * Python for Snakemake). It knows what matters for finding container references without being fooled:
 * comments, quotes (single, double, triple), escapes, and string interpolation, whose expressions are
 * tokenized too so that `"${ cond ? 'a' : 'b' }"` can be read. Offsets are indexes into the text.
 */

export type Token = WordToken | PunctToken | NewlineToken | StringToken | RawToken;

export interface WordToken {
  type: 'word';
  text: string;
  start: number;
  end: number;
}

/** Numbers and operators: one character each, except those listed in `multiCharPunct`. */
export interface PunctToken {
  type: 'punct';
  text: string;
  start: number;
  end: number;
}

/** The end of a line outside brackets and parentheses (statements end there in all three languages). */
export interface NewlineToken {
  type: 'newline';
  start: number;
  end: number;
}

export interface StringToken {
  type: 'string';
  start: number;
  end: number;
  /** Where the text between the quotes starts and ends. */
  contentStart: number;
  contentEnd: number;
  parts: StringPart[];
}

/** A section copied verbatim, such as a WDL `command` block. */
export interface RawToken {
  type: 'raw';
  start: number;
  end: number;
}

export type StringPart =
  | { type: 'text'; text: string; start: number; end: number }
  | { type: 'expression'; tokens: Token[]; start: number; end: number };

export interface LexerSyntax {
  /** Line comment openers: `//` (Groovy), `#` (WDL, Python). */
  lineComments: string[];
  /** `/* … *\/` comments (Groovy). */
  blockComments: boolean;
  /** `'''…'''` and `"""…"""` strings (Groovy, Python). */
  tripleQuotes: boolean;
  /** Which quote characters allow interpolation, and with which openers (`${`, `~{`, `{` for f-strings). */
  interpolation(quote: string, prefix: string): string[];
  /** Groovy's `/regex/` strings, recognised where a value (not a division) is expected. */
  slashyStrings: boolean;
  /** Python's string prefixes (r, f, b, rb, fr…). */
  stringPrefixes: boolean;
  /** WDL: `command { … }` / `command <<< … >>>` are shell scripts, kept out of the tokens. */
  rawCommandSections: boolean;
}

export class LexError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'LexError';
  }
}

const multiCharPunct = ['<<<', '>>>', '==', '!=', '&&', '||', '<=', '>=', '?.', '?:', '=~', '==~'];

/** Tokenizes `text`; throws LexError (with the offset where the bad construct starts) for an unterminated string or comment. */
export function tokenize(text: string, syntax: LexerSyntax): Token[] {
  return new Lexer(text, syntax).run(0, false).tokens;
}

class Lexer {
  constructor(
    private readonly text: string,
    private readonly syntax: LexerSyntax,
  ) {}

  /** Tokens from `position`; with `untilClosingBrace`, stops at the `}` that closes an interpolation (returned as `end`). */
  run(position: number, untilClosingBrace: boolean, limit = this.text.length): { tokens: Token[]; end: number } {
    const { text, syntax } = this;
    const tokens: Token[] = [];
    let bracketDepth = 0;
    let braceDepth = 0;
    let i = position;
    while (i < limit) {
      const c = text[i]!;
      if (c === '\n') {
        if (bracketDepth === 0) tokens.push({ type: 'newline', start: i, end: i + 1 });
        i++;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\r' || c === '\f') {
        i++;
        continue;
      }
      if (c === '\\' && text[i + 1] === '\n') {
        i += 2; // an explicit line continuation
        continue;
      }
      const comment = syntax.lineComments.find((opener) => text.startsWith(opener, i));
      if (comment) {
        const eol = text.indexOf('\n', i);
        i = eol < 0 ? text.length : eol;
        continue;
      }
      if (syntax.blockComments && text.startsWith('/*', i)) {
        const close = text.indexOf('*/', i + 2);
        if (close < 0) throw new LexError('unterminated /* comment', i);
        i = close + 2;
        continue;
      }
      const stringStart = this.stringOpening(i, tokens);
      if (stringStart) {
        const token = this.string(i, stringStart.prefixLength, stringStart.quote);
        tokens.push(token);
        i = token.end;
        continue;
      }
      if (isWordStart(c)) {
        let end = i + 1;
        while (end < text.length && isWordPart(text[end]!)) end++;
        const word: WordToken = { type: 'word', text: text.slice(i, end), start: i, end };
        tokens.push(word);
        i = end;
        if (syntax.rawCommandSections && word.text === 'command' && startsStatement(tokens, tokens.length - 1)) {
          const raw = this.commandSection(i);
          if (raw) {
            tokens.push(raw);
            i = raw.end;
          }
        }
        continue;
      }
      if (isDigit(c)) {
        let end = i + 1;
        while (end < text.length && /[0-9A-Za-z_.]/.test(text[end]!)) end++;
        tokens.push({ type: 'punct', text: text.slice(i, end), start: i, end });
        i = end;
        continue;
      }
      if (c === '}' && untilClosingBrace && braceDepth === 0) return { tokens, end: i };
      if (c === '(' || c === '[') bracketDepth++;
      if ((c === ')' || c === ']') && bracketDepth > 0) bracketDepth--;
      if (c === '{') braceDepth++;
      if (c === '}') braceDepth--;
      const operator = multiCharPunct.filter((p) => text.startsWith(p, i)).sort((a, b) => b.length - a.length)[0] ?? c;
      tokens.push({ type: 'punct', text: operator, start: i, end: i + operator.length });
      i += operator.length;
    }
    if (untilClosingBrace) throw new LexError('unterminated ${…} in a string', position);
    return { tokens, end: Math.min(i, limit) };
  }

  /** Whether a string starts at `i` (after an optional Python prefix): its quote and the prefix's length. */
  private stringOpening(i: number, tokens: Token[]): { quote: string; prefixLength: number } | undefined {
    const { text, syntax } = this;
    let prefixLength = 0;
    if (syntax.stringPrefixes) {
      const prefix = /^(?:[rRbBfFuU]|[rR][bBfF]|[bBfF][rR])(?=['"])/.exec(text.slice(i, i + 3));
      if (prefix && (i === 0 || !isWordPart(text[i - 1]!))) prefixLength = prefix[0].length;
    }
    const q = text[i + prefixLength];
    if (q === '"' || q === "'") {
      const triple = syntax.tripleQuotes && text.startsWith(q.repeat(3), i + prefixLength);
      return { quote: triple ? q.repeat(3) : q, prefixLength };
    }
    if (syntax.slashyStrings && q === '/' && prefixLength === 0 && expectsValue(tokens)) {
      const eol = text.indexOf('\n', i);
      const close = findUnescaped(text, '/', i + 1, eol < 0 ? text.length : eol);
      if (close > i + 1) return { quote: '/', prefixLength: 0 };
    }
    return undefined;
  }

  private string(start: number, prefixLength: number, quote: string): StringToken {
    const { text } = this;
    const prefix = text.slice(start, start + prefixLength).toLowerCase();
    const openers = this.syntax.interpolation(quote, prefix);
    const raw = prefix.includes('r');
    const contentStart = start + prefixLength + quote.length;
    const parts: StringPart[] = [];
    let textStart = contentStart;
    let i = contentStart;
    const flushText = (until: number) => {
      if (until > textStart) parts.push({ type: 'text', text: text.slice(textStart, until), start: textStart, end: until });
    };
    while (i < text.length) {
      if (text.startsWith(quote, i)) {
        flushText(i);
        return { type: 'string', start, end: i + quote.length, contentStart, contentEnd: i, parts };
      }
      const c = text[i]!;
      if (c === '\n' && quote.length === 1 && quote !== '/') break; // single-quoted strings end at the line
      if (c === '\\' && (!raw || text[i + 1] === quote[0])) {
        i += 2;
        continue;
      }
      if (openers.includes('$') && c === '$' && isWordStart(text[i + 1] ?? '') && text[i + 1] !== '$') {
        // Groovy's `$name.field` interpolation, without braces.
        flushText(i);
        const match = /^\$[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(text.slice(i))!;
        const end = i + match[0].length;
        parts.push({ type: 'expression', tokens: new Lexer(text, this.syntax).run(i + 1, false, end).tokens, start: i, end });
        i = end;
        textStart = i;
        continue;
      }
      const opener = openers.find((o) => o !== '$' && text.startsWith(o, i));
      if (opener && !(opener === '{' && text[i + 1] === '{')) {
        flushText(i);
        const inner = this.run(i + opener.length, true);
        parts.push({ type: 'expression', tokens: inner.tokens, start: i, end: inner.end + 1 });
        i = inner.end + 1;
        textStart = i;
        continue;
      }
      if (opener === '{') {
        i += 2; // `{{` is a literal brace in an f-string
        continue;
      }
      i++;
    }
    throw new LexError(`unterminated string (opened with ${quote})`, start);
  }

  /** WDL's `command <<< … >>>` or `command { … }`, from just after the word `command`. */
  private commandSection(position: number): RawToken | undefined {
    const { text } = this;
    let i = position;
    while (i < text.length && /\s/.test(text[i]!)) i++;
    if (text.startsWith('<<<', i)) {
      const close = text.indexOf('>>>', i + 3);
      if (close < 0) throw new LexError('unterminated command <<< section', i);
      return { type: 'raw', start: i, end: close + 3 };
    }
    if (text[i] !== '{') return undefined;
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      if (text[j] === '{') depth++;
      else if (text[j] === '}' && --depth === 0) return { type: 'raw', start: i, end: j + 1 };
    }
    throw new LexError('unterminated command { section', i);
  }
}

function isWordStart(c: string): boolean {
  return /[A-Za-z_$]/.test(c);
}

function isWordPart(c: string): boolean {
  return /[A-Za-z0-9_$]/.test(c);
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function findUnescaped(text: string, char: string, from: number, to: number): number {
  for (let i = from; i < to; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === char) return i;
  }
  return -1;
}

/** A `/` starts a slashy string (not a division) after an operator, an opening bracket, or at a statement's start. */
function expectsValue(tokens: Token[]): boolean {
  const previous = tokens[tokens.length - 1];
  if (!previous || previous.type === 'newline') return true;
  if (previous.type === 'punct') return !/^[0-9)\]}]/.test(previous.text);
  if (previous.type === 'word') return ['return', 'in', 'case'].includes(previous.text);
  return false;
}

/** Whether the token at `index` begins a statement: first in the text, after a line end, `{`, `}` or `;`. */
export function startsStatement(tokens: readonly Token[], index: number): boolean {
  const previous = tokens[index - 1];
  return !previous || previous.type === 'newline' || (previous.type === 'punct' && ['{', '}', ';'].includes(previous.text));
}

/** The literal text of a string without interpolation, or undefined when it interpolates. */
export function literalText(token: StringToken): string | undefined {
  if (token.parts.some((p) => p.type === 'expression')) return undefined;
  return token.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
}

/** The tokens of one statement from `from`: up to a line end outside braces, or the `}` that closes the enclosing block. */
export function untilLineEnd(tokens: readonly Token[], from: number): Token[] {
  const taken: Token[] = [];
  let depth = 0;
  for (let i = from; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.type === 'newline' && depth === 0) break;
    if (token.type === 'punct' && token.text === '{') depth++;
    if (token.type === 'punct' && token.text === '}') {
      if (depth === 0) break;
      depth--;
    }
    taken.push(token);
  }
  return taken;
}

/** 1-based line and column of an offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
