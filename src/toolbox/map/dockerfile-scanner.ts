import { ScanCollector, type WorkflowFile, type WorkflowScanner } from './scan-results.ts';

/** One logical instruction: continuation lines joined, with each character's offset in the file. */
interface Instruction {
  keyword: string;
  /** The arguments after the keyword, continuations removed. */
  text: string;
  /** `offsets[i]` is where `text[i]` is in the file. */
  offsets: number[];
  start: number;
}

interface ArgDefault {
  value: string;
  /** Where the value is written in the file, when it is written verbatim. */
  start?: number;
}

/**
 * Dockerfiles: every `FROM` image. Stage names (`FROM build AS …` then `FROM build`) and `scratch` are not
 * images; `--platform=…` is skipped; `${ARG}` / `$ARG` take the default of an `ARG` declared before the first FROM.
 */
export const dockerfileScanner: WorkflowScanner = {
  language: 'dockerfile',
  matches: (path) =>
    (/(^|\/)(Dockerfile|Containerfile)([.-][^/]*)?$/.test(path) || /\.(dockerfile|containerfile)$/i.test(path)) &&
    !/\.(dockerignore|bak|orig|md|txt)$/i.test(path), // not ignore files, backups or notes named after a Dockerfile
  scan(files) {
    const collector = new ScanCollector('dockerfile');
    for (const file of files) scanFile(file, collector);
    return collector.result;
  },
};

function scanFile(file: WorkflowFile, collector: ScanCollector): void {
  const instructions = readInstructions(file.content);
  if (typeof instructions === 'string') {
    collector.problem(file, file.content.length, instructions);
    return;
  }
  const globalArgs = new Map<string, ArgDefault>();
  const stages = new Set<string>();
  let seenFrom = false;
  for (const instruction of instructions) {
    if (instruction.keyword === 'ARG' && !seenFrom) {
      for (const [name, value] of argDefaults(instruction)) globalArgs.set(name, value);
      continue;
    }
    if (instruction.keyword !== 'FROM') continue;
    seenFrom = true;
    const words = splitWords(instruction.text).filter((w) => !w.text.startsWith('--'));
    const image = words[0];
    if (!image) {
      collector.problem(file, instruction.start, 'FROM without an image');
      continue;
    }
    const alias = words[1]?.text.toLowerCase() === 'as' ? words[2]?.text : undefined;
    const substituted = substitute(image.text, globalArgs);
    if (typeof substituted === 'string') {
      collector.problem(file, instruction.offsets[image.index]!, `cannot resolve FROM ${image.text}: ${substituted}`);
    } else if (substituted.text.toLowerCase() !== 'scratch' && !stages.has(substituted.text.toLowerCase())) {
      const offset = instruction.offsets[image.index]!;
      const at = { file, offset, end: offset + image.text.length };
      // Written in one place: the ARG default a bare ${NAME} takes, or the FROM line itself when nothing was substituted.
      const literalStart = substituted.fromArg
        ? substituted.fromArg.start
        : substituted.text === image.text
          ? verbatimStart(instruction, image.index, image.text.length)
          : undefined;
      collector.container({ at, text: substituted.text, ...(literalStart !== undefined ? { literal: { file, start: literalStart } } : {}) });
    }
    if (alias) stages.add(alias.toLowerCase());
  }
}

/** Instructions with line continuations joined; comments and blank lines dropped; a trailing continuation is an error. */
function readInstructions(content: string): Instruction[] | string {
  const escape = /^#\s*escape\s*=\s*`/im.test(content.split('\n').slice(0, 5).join('\n')) ? '`' : '\\';
  const instructions: Instruction[] = [];
  let current: Instruction | undefined;
  let offset = 0;
  for (const rawLine of content.split('\n')) {
    const lineStart = offset;
    offset += rawLine.length + 1;
    const line = rawLine.replace(/\r$/, '');
    const trimmed = line.trimStart();
    if (/^#/.test(trimmed) || (!current && trimmed === '')) continue;
    const continues = line.trimEnd().endsWith(escape);
    const body = continues ? line.trimEnd().slice(0, -1) : line;
    if (!current) {
      const keyword = /^\s*([A-Za-z]+)\s*/.exec(body);
      if (!keyword) continue;
      const argsStart = keyword[0].length;
      current = { keyword: keyword[1]!.toUpperCase(), text: '', offsets: [], start: lineStart };
      append(current, body.slice(argsStart), lineStart + argsStart);
    } else {
      append(current, body, lineStart);
    }
    if (!continues) {
      instructions.push(current);
      current = undefined;
    }
  }
  if (current) return `the ${current.keyword} instruction continues past the end of the file`;
  return instructions;
}

function append(instruction: Instruction, text: string, fileOffset: number): void {
  for (let i = 0; i < text.length; i++) {
    instruction.text += text[i];
    instruction.offsets.push(fileOffset + i);
  }
}

/** Whitespace-separated words with their index in the instruction text. */
function splitWords(text: string): Array<{ text: string; index: number }> {
  const words: Array<{ text: string; index: number }> = [];
  for (const match of text.matchAll(/\S+/g)) words.push({ text: match[0], index: match.index });
  return words;
}

/** `ARG NAME=value` (quotes allowed) and `ARG NAME` (no default). */
function argDefaults(instruction: Instruction): Array<[string, ArgDefault]> {
  const found: Array<[string, ArgDefault]> = [];
  for (const word of splitWords(instruction.text)) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:=(["']?)(.*?)\2)?$/.exec(word.text);
    if (!match || match[3] === undefined) continue;
    const valueIndex = word.index + match[1]!.length + 1 + match[2]!.length;
    found.push([match[1]!, { value: match[3], start: verbatimStart(instruction, valueIndex, match[3].length) }]);
  }
  return found;
}

/** Where `length` characters from `index` are written in one piece in the file (not split by a continuation). */
function verbatimStart(instruction: Instruction, index: number, length: number): number | undefined {
  const start = instruction.offsets[index];
  const last = instruction.offsets[index + length - 1];
  return start !== undefined && last === start + length - 1 ? start : undefined;
}

/** Replaces `$NAME`, `${NAME}` and `${NAME:-default}` with ARG defaults; a name alone (`${BASE}`) keeps where its default is written. */
function substitute(text: string, args: Map<string, ArgDefault>): { text: string; fromArg?: ArgDefault & { start: number } } | string {
  const whole = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(text);
  if (whole) {
    const arg = args.get(whole[1]!);
    if (!arg) return `ARG ${whole[1]} has no default before the first FROM`;
    return arg.start !== undefined ? { text: arg.value, fromArg: { ...arg, start: arg.start } } : { text: arg.value };
  }
  let missing: string | undefined;
  const replaced = text.replace(/\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g, (_all, braced: string | undefined, fallback: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    const value = args.get(name)?.value ?? fallback;
    if (value === undefined) missing = name;
    return value ?? '';
  });
  if (missing) return `ARG ${missing} has no default before the first FROM`;
  return { text: replaced };
}
