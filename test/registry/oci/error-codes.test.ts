import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { Oci, type OciCodeName } from '../../../src/registry/oci/errors.ts';

const docsPath = new URL('../../../docs/registry.md', import.meta.url);

interface DocumentedCode {
  code: string;
  status: string;
}

/** The rows of the table under the `### Error codes` heading of docs/registry.md. */
async function documentedCodes(): Promise<DocumentedCode[]> {
  const markdown = await readFile(docsPath, 'utf8');
  const section = /^### Error codes\n([\s\S]*?)(?=^#{1,3} |(?![\s\S]))/m.exec(markdown);
  assert.ok(section, 'docs/registry.md has no "### Error codes" section');
  const rows = section[1]!.split('\n').filter((line) => line.startsWith('|'));
  assert.ok(rows.length > 2, 'the error code section has no table');
  const [header, separator, ...body] = rows;
  assert.match(header!, /^\|\s*code\s*\|\s*status\s*\|/i);
  assert.match(separator!, /^\|[\s|:-]+$/);
  return body.map((row) => {
    const cells = row.split('|').slice(1, -1).map((cell) => cell.trim());
    const code = /^`([A-Z_]+)`$/.exec(cells[0] ?? '');
    assert.ok(code, `the first cell of "${row}" is not a code in backticks`);
    return { code: code[1]!, status: cells[1] ?? '' };
  });
}

// Every code the OCI face can send is documented for users, and the docs invent none.
describe('OCI error codes in docs/registry.md', () => {
  it('lists exactly the codes of Oci, each once', async () => {
    const documented = (await documentedCodes()).map((row) => row.code);
    const defined = Object.keys(Oci);
    assert.deepEqual(
      documented.filter((code, i) => documented.indexOf(code) !== i),
      [],
      'codes listed twice',
    );
    assert.deepEqual(
      defined.filter((code) => !documented.includes(code)),
      [],
      'codes missing from docs/registry.md',
    );
    assert.deepEqual(
      documented.filter((code) => !defined.includes(code)),
      [],
      'codes in docs/registry.md that src/registry/oci/errors.ts does not define',
    );
  });

  it("gives each code's usual HTTP status", async () => {
    for (const { code, status } of await documentedCodes()) {
      if (!(code in Oci)) continue; // reported by the test above
      assert.equal(status, String(Oci[code as OciCodeName].status), `status of ${code}`);
    }
  });
});
