import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BuildFailed, type RegistryLogin } from '../../../src/builder/executors/build-executor.ts';
import { BuildOutput } from '../../../src/builder/executors/build-output.ts';

const login: RegistryLogin = { registry: '127.0.0.1:5000', username: 'builder', password: 'berth_secret-token-123', insecure: true };

function collect(): { output: BuildOutput; text: () => string; lines: string[] } {
  let text = '';
  const lines: string[] = [];
  const output = new BuildOutput((chunk) => (text += chunk), [login], { tailLines: 10, onLine: (line) => lines.push(line) });
  return { output, text: () => text, lines };
}

describe('BuildOutput', () => {
  it('passes whole lines on as they complete, and a partial last line at the end', () => {
    const { output, text, lines } = collect();
    output.write('STEP 1/1: RUN ech');
    assert.equal(text(), '');
    output.write('o hi\nhi\r\npartial');
    assert.equal(text(), 'STEP 1/1: RUN echo hi\nhi\n');
    output.end();
    assert.equal(text(), 'STEP 1/1: RUN echo hi\nhi\npartial\n');
    assert.deepEqual(lines, ['STEP 1/1: RUN echo hi', 'hi', 'partial']);
  });

  it('blanks out the password and its Basic encodings, even split across chunks', () => {
    const { output, text } = collect();
    const basic = Buffer.from('builder:berth_secret-token-123').toString('base64');
    output.write('registry said: berth_secret-');
    output.write(`token-123 and Basic ${basic}\n`);
    output.write(`\u001b[91mauth ${Buffer.from('builder:berth_secret-token-123').toString('base64url')}\u001b[0m\n`);
    const failure = output.failure({ message: 'denied for berth_secret-token-123', fallback: 'failed' });
    assert.ok(!text().includes('berth_secret-token-123') && !text().includes(basic), text());
    assert.equal(text(), 'registry said: ******** and Basic ********\nauth ********\n');
    assert.equal(failure.message, 'denied for ********');
    assert.ok(!JSON.stringify(failure.report).includes('secret'));
  });

  it('a failure after nextPhase() belongs to no Dockerfile step', () => {
    const { output } = collect();
    output.write('STEP 1/1: FROM scratch\n');
    output.nextPhase();
    output.write('Error: pushing image: unauthorized\n');
    const failure = output.failure({ fallback: 'buildah push exited with code 125' });
    assert.ok(failure instanceof BuildFailed);
    assert.deepEqual(failure.report, { lastLines: ['Error: pushing image: unauthorized'], message: 'pushing image: unauthorized' });
  });
});
