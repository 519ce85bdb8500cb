import { describe, it } from 'node:test';
import { ecrErrorTypes } from '../../../src/registry/ecr/ecr-errors.ts';
import { assertSameCodes, documentedCodes } from '../../support/doc-tables.ts';

// Every exception the ECR face can send is documented, and the docs invent none.
describe('ECR error types in docs/ecr.md', () => {
  it('lists exactly the exception names of ecrErrorTypes, each once', async () => {
    const documented = await documentedCodes(new URL('../../../docs/ecr.md', import.meta.url), 'Errors');
    assertSameCodes(documented.map((row) => row.code), ecrErrorTypes, 'docs/ecr.md');
  });
});
