import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Oci, type OciCodeName } from '../../../src/registry/oci/errors.ts';
import { assertSameCodes, documentedCodes } from '../../support/doc-tables.ts';

const docs = new URL('../../../docs/registry.md', import.meta.url);

// Every code the OCI face can send is documented for users, and the docs invent none.
describe('OCI error codes in docs/registry.md', () => {
  it('lists exactly the codes of Oci, each once', async () => {
    assertSameCodes((await documentedCodes(docs, 'Error codes')).map((row) => row.code), Object.keys(Oci), 'docs/registry.md');
  });

  it("gives each code's usual HTTP status", async () => {
    for (const { code, second } of await documentedCodes(docs, 'Error codes')) {
      if (!(code in Oci)) continue; // reported by the test above
      assert.equal(second, String(Oci[code as OciCodeName].status), `status of ${code}`);
    }
  });
});
