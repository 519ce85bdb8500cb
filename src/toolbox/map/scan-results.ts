import { LexError, lineAndColumn, tokenize, type LexerSyntax, type Token } from './code-lexer.ts';

export type WorkflowLanguage = 'nextflow' | 'wdl' | 'cwl' | 'snakemake' | 'dockerfile';

/** A workflow file: its path relative to the workflow folder (with `/`), and its text. */
export interface WorkflowFile {
  path: string;
  content: string;
}

/** Where a text is written: offsets into a file's content (what `--rewrite` replaces). */
export interface SourceSpan {
  file: string;
  start: number;
  end: number;
}

/** One container image a workflow uses, where it uses it. */
export interface ScannedReference {
  file: string;
  line: number;
  column: number;
  language: WorkflowLanguage;
  /** The image as the workflow names it: a `docker://` prefix removed, a variable replaced by its default. */
  image: string;
  /**
   * Where that exact text is written, when it is one literal: in the directive itself, or in the default of the
   * variable the directive names (which may be in another file). Absent when the name is put together from pieces.
   */
  span?: SourceSpan;
  /** The registry that names without a registry host go to (Nextflow's `docker.registry`); Docker Hub otherwise. */
  defaultRegistry?: string;
}

/** Something that stops a file or a reference from being read: reported with file and line, never dropped. */
export interface MapProblem {
  file: string;
  line: number;
  message: string;
}

/** A container that is not a registry image (a Singularity URL, a local .sif): noted, not mapped. */
export interface SkippedContainer {
  file: string;
  line: number;
  text: string;
  reason: string;
}

export interface ScanResult {
  references: ScannedReference[];
  problems: MapProblem[];
  skipped: SkippedContainer[];
}

/** One language: which files it reads, and how. Scanners see all their files at once (Nextflow's config applies to its modules). */
export interface WorkflowScanner {
  language: WorkflowLanguage;
  matches(path: string): boolean;
  scan(files: readonly WorkflowFile[]): ScanResult;
}

/** A text a workflow gives as a container: where it is written, and where to report it. */
export interface ContainerText {
  /** The directive's value: where the reference is reported, unless its literal is inside it (then there, exactly). */
  at: { file: WorkflowFile; offset: number; end: number };
  text: string;
  /** Where `text` is written literally, when it is. */
  literal?: { file: WorkflowFile; start: number };
  defaultRegistry?: string;
}

/** Collects a scanner's findings with lines and columns worked out from offsets. */
export class ScanCollector {
  readonly result: ScanResult = { references: [], problems: [], skipped: [] };

  constructor(readonly language: WorkflowLanguage) {}

  /** The file's tokens; or, for a file the lexer cannot read (an unterminated string, say), a problem and undefined. */
  tokens(file: WorkflowFile, syntax: LexerSyntax, kindOfFile: string): Token[] | undefined {
    try {
      return tokenize(file.content, syntax);
    } catch (error) {
      if (!(error instanceof LexError)) throw error;
      this.problem(file, error.offset, `cannot read this ${kindOfFile}: ${error.message}`);
      return undefined;
    }
  }

  /**
   * Records what a directive names: a registry image (with `docker://` removed), or, for URLs and image files that
   * Singularity/Apptainer pull themselves, a skipped container.
   */
  container(found: ContainerText): void {
    const leading = found.text.length - found.text.trimStart().length;
    let image = found.text.trim();
    let offset = leading;
    const dockerPrefixed = image.startsWith('docker://');
    if (dockerPrefixed) {
      image = image.slice('docker://'.length);
      offset += 'docker://'.length;
    }
    const literal = found.literal;
    const spanStart = literal ? literal.start + offset : undefined;
    const inside = literal?.file === found.at.file && spanStart !== undefined && spanStart >= found.at.offset && spanStart < found.at.end;
    const position = lineAndColumn(found.at.file.content, inside ? spanStart : found.at.offset);
    const reason = dockerPrefixed ? undefined : notARegistryImage(image);
    if (reason) {
      this.result.skipped.push({ file: found.at.file.path, line: position.line, text: image, reason });
      return;
    }
    if (!image) {
      this.problem(found.at.file, found.at.offset, 'the container name is empty');
      return;
    }
    this.result.references.push({
      file: found.at.file.path,
      line: position.line,
      column: position.column,
      language: this.language,
      image,
      ...(literal && spanStart !== undefined ? { span: { file: literal.file.path, start: spanStart, end: spanStart + image.length } } : {}),
      ...(found.defaultRegistry ? { defaultRegistry: found.defaultRegistry } : {}),
    });
  }

  problem(file: WorkflowFile, offset: number, message: string): void {
    // A problem found at the end of the text (an unterminated quote) is reported on the last line, not after it.
    const lastCharacter = Math.max(0, file.content.replace(/\r?\n$/, '').length - 1);
    this.result.problems.push({ file: file.path, line: lineAndColumn(file.content, Math.min(offset, lastCharacter)).line, message });
  }
}

/** Why a container text is not a registry image (Singularity/Apptainer URLs and files), or undefined when it is one. */
export function notARegistryImage(text: string): string | undefined {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text);
  if (scheme) return `a ${scheme[1]!.toLowerCase()}:// URL, pulled by Singularity/Apptainer, not from a registry`;
  if (/^(?:\/|\.{1,2}\/|~\/)/.test(text) || /\.(?:sif|simg|img)$/i.test(text)) return 'an image file, not a registry image';
  return undefined;
}
