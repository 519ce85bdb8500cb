import { literalText, startsStatement, untilLineEnd, type LexerSyntax, type Token } from './code-lexer.ts';
import { ScanCollector, type WorkflowFile, type WorkflowScanner } from './scan-results.ts';

const python: LexerSyntax = {
  lineComments: ['#'],
  blockComments: false,
  tripleQuotes: true,
  interpolation: (_quote, prefix) => (prefix.includes('f') ? ['{'] : []),
  slashyStrings: false,
  stringPrefixes: true,
  rawCommandSections: false,
};

/** `container:` (and its old name `singularity:`), global or in a rule. */
const directives = new Set(['container', 'singularity']);

/**
 * Snakemake: the global `container:` directive and per-rule ones; `docker://` names a registry image, other URLs
 * and `.sif` files are Singularity's own. A value may be a string or a variable assigned a string at the top level.
 */
export const snakemakeScanner: WorkflowScanner = {
  language: 'snakemake',
  matches: (path) => /(^|\/)Snakefile$/.test(path) || /\.(smk|snakefile|snake)$/i.test(path),
  scan(files) {
    const collector = new ScanCollector('snakemake');
    for (const file of files) scanFile(file, collector);
    return collector.result;
  },
};

function scanFile(file: WorkflowFile, collector: ScanCollector): void {
  const tokens = collector.tokens(file, python, 'Snakefile');
  if (!tokens) return;
  const assignments = new Map<string, Token[]>();
  const sites: Token[][] = [];
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (token.type !== 'word' || !startsStatement(tokens, i)) continue;
    const next = tokens[i + 1];
    if (next?.type !== 'punct') continue;
    if (next.text === '=' && !assignments.has(token.text)) assignments.set(token.text, untilLineEnd(tokens, i + 2));
    if (next.text === ':' && directives.has(token.text)) {
      let valueStart = i + 2;
      while (tokens[valueStart]?.type === 'newline') valueStart++; // the value may be on the next, indented line
      sites.push(untilLineEnd(tokens, valueStart));
    }
  }
  for (const value of sites) {
    const at = { file, offset: value[0]?.start ?? 0, end: value[value.length - 1]?.end ?? 0 };
    const resolved = resolve(value, assignments);
    if (typeof resolved === 'string') collector.problem(file, at.offset, `cannot resolve the container: ${resolved}`);
    else collector.container({ at, text: resolved.text, ...(resolved.literalStart !== undefined ? { literal: { file, start: resolved.literalStart } } : {}) });
  }
}

/** The container's text (and where it is written), or why it cannot be known without running the Snakefile. */
function resolve(tokens: Token[], assignments: Map<string, Token[]>, depth = 0): { text: string; literalStart?: number } | string {
  const first = tokens[0];
  if (!first) return 'the directive has no value';
  if (tokens.every((t) => t.type === 'string')) {
    const texts = tokens.map((t) => (t.type === 'string' ? literalText(t) : undefined));
    if (texts.some((t) => t === undefined)) return 'it is an f-string; give the image as a plain string';
    const text = texts.join('');
    return tokens.length === 1 && first.type === 'string' ? { text, literalStart: first.contentStart } : { text };
  }
  if (tokens.length === 1 && first.type === 'word') {
    const value = assignments.get(first.text);
    if (!value || depth > 10) return `${first.text} is not assigned a string in this file`;
    return resolve(value, assignments, depth + 1);
  }
  if (first.type === 'word' && first.text === 'config') return 'it comes from the workflow configuration (config[…]), known only when Snakemake runs';
  return 'it is an expression, not a string';
}
