import type { MapProblem, SourceSpan, WorkflowFile } from './scan-results.ts';

/** A reference to point at the mirror: where its text is written (if it is), and what to write there. */
export interface RewriteRequest {
  file: string;
  line: number;
  source: string;
  target: string;
  span?: SourceSpan;
}

export interface RewritePlan {
  /** New contents of the files that change, by path; files whose references already point at the mirror are absent. */
  contents: Map<string, { content: string; changes: number }>;
  problems: MapProblem[];
}

/**
 * Works out the rewritten files: each reference's text replaced by its target and nothing else touched. A text
 * already equal to its target is left alone, so a second rewrite changes nothing. References that are not written as
 * one piece of text (put together from variables, split across lines) have no single place to change: they are reported.
 */
export function planRewrite(files: readonly WorkflowFile[], requests: readonly RewriteRequest[]): RewritePlan {
  const problems: MapProblem[] = [];
  const edits = new Map<string, Map<number, { end: number; replacement: string }>>();
  for (const request of requests) {
    const { span } = request;
    if (!span) {
      problems.push({
        file: request.file,
        line: request.line,
        message: `not rewritten: "${request.source}" is not written as one piece of text (it is put together from variables, or split across lines); change it by hand to name ${request.target}`,
      });
      continue;
    }
    const forFile = edits.get(span.file) ?? new Map<number, { end: number; replacement: string }>();
    edits.set(span.file, forFile);
    const earlier = forFile.get(span.start);
    if (earlier && (earlier.end !== span.end || earlier.replacement !== request.target)) {
      problems.push({ file: request.file, line: request.line, message: `not rewritten: ${span.file} has one text for two different images (${earlier.replacement}, ${request.target})` });
      continue;
    }
    forFile.set(span.start, { end: span.end, replacement: request.target });
  }

  const contents = new Map<string, { content: string; changes: number }>();
  for (const [path, fileEdits] of edits) {
    const file = files.find((f) => f.path === path);
    if (!file) continue;
    let content = file.content;
    let changes = 0;
    let limit = Number.POSITIVE_INFINITY;
    // From the end backwards, so that earlier offsets stay valid.
    for (const [start, edit] of [...fileEdits].sort(([a], [b]) => b - a)) {
      if (edit.end > limit) continue; // overlapping spans cannot happen for literals; skip rather than corrupt
      limit = start;
      if (content.slice(start, edit.end) === edit.replacement) continue;
      content = content.slice(0, start) + edit.replacement + content.slice(edit.end);
      changes++;
    }
    if (changes > 0) contents.set(path, { content, changes });
  }
  return { contents, problems };
}
