import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

export interface DocumentedCode {
  code: string;
  /** The second column (e.g. an HTTP status), as written. */
  second: string;
}

/**
 * The rows of the table under `### <heading>` in a markdown file whose first column holds codes
 * in backticks: docs list every error code a face can send, and tests hold them to the source.
 */
export async function documentedCodes(path: URL, heading: string): Promise<DocumentedCode[]> {
  const markdown = await readFile(path, 'utf8');
  const escaped = heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const section = new RegExp(`^### ${escaped}\\n([\\s\\S]*?)(?=^#{1,3} |(?![\\s\\S]))`, 'm').exec(markdown);
  assert.ok(section, `${path.pathname} has no "### ${heading}" section`);
  const rows = section[1]!.split('\n').filter((line) => line.startsWith('|'));
  assert.ok(rows.length > 2, `the "${heading}" section has no table`);
  const [, separator, ...body] = rows;
  assert.match(separator!, /^\|[\s|:-]+$/);
  return body.map((row) => {
    const cells = row.split('|').slice(1, -1).map((cell) => cell.trim());
    const code = /^`([A-Za-z_]+)`$/.exec(cells[0] ?? '');
    assert.ok(code, `the first cell of "${row}" is not a code in backticks`);
    return { code: code[1]!, second: cells[1] ?? '' };
  });
}

/** Asserts that the documented codes are exactly `defined`, each listed once. */
export function assertSameCodes(documented: string[], defined: readonly string[], where: string): void {
  assert.deepEqual(documented.filter((code, i) => documented.indexOf(code) !== i), [], `codes listed twice in ${where}`);
  assert.deepEqual(defined.filter((code) => !documented.includes(code)), [], `codes missing from ${where}`);
  assert.deepEqual(documented.filter((code) => !defined.includes(code)), [], `codes in ${where} that the source does not define`);
}
