import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainError } from '../../../src/toolbox/doctor/explain-error.ts';
import { knownErrors } from '../../../src/toolbox/doctor/known-errors.ts';
import { doctorOperations, explainErrorOperation } from '../../../src/toolbox/doctor/doctor-operations.ts';

describe('explainError', () => {
  for (const entry of knownErrors) {
    it(`recognises ${entry.id} from a realistic sample`, () => {
      const result = explainError(entry.sample);
      assert.equal(result.recognised, true);
      const match = result.matches.find((found) => found.id === entry.id);
      assert.ok(match, `${entry.id} not among ${result.matches.map((m) => m.id).join(', ')}`);
      assert.ok(entry.sample.includes(match.matched), 'what matched is part of the text');
      assert.equal(match.cause, entry.cause);
      assert.ok(match.fix.length > 20);
    });
  }

  it('every entry has a distinct id and at least one pattern', () => {
    assert.equal(new Set(knownErrors.map((entry) => entry.id)).size, knownErrors.length);
    for (const entry of knownErrors) assert.ok(entry.patterns.length > 0, entry.id);
  });

  it('explains the specific cause before the generic wrapper around it', () => {
    const text = 'CannotPullContainerError: inspect image has been retried 5 time(s): httpReaderSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/python/manifests/3.12: 429 Too Many Requests - Server message: toomanyrequests: You have reached your pull rate limit';
    assert.deepEqual(explainError(text).matches.map((match) => match.id), ['docker-hub-rate-limit', 'cannot-pull-container']);
  });

  it('fills the fix from what the text names', () => {
    const push = explainError('Missing credentials for container repository: ghcr.io/acme/studios').matches[0]!;
    assert.match(push.fix, /--name ghcr\.io --provider container-reg --registry ghcr\.io/);
    const denied = explainError("CannotPullContainerError: Error response from daemon: pull access denied for 123456789012.dkr.ecr.ap-northeast-1.amazonaws.com/my-app, repository does not exist or may require 'docker login'");
    assert.deepEqual(denied.matches.map((match) => match.id), ['pull-access-denied', 'cannot-pull-container']);
    assert.match(denied.matches[0]!.fix, /berth check 123456789012\.dkr\.ecr\.ap-northeast-1\.amazonaws\.com\/my-app/);
    const manifest = explainError('Error response from daemon: manifest for quay.io/biocontainers/samtools:latest not found: manifest unknown: manifest unknown').matches[0]!;
    assert.equal(manifest.id, 'manifest-unknown');
    assert.match(manifest.fix, /berth check quay\.io\/biocontainers\/samtools:latest/);
  });

  it('an ECS pull that times out is a generic pull failure', () => {
    const text = 'CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref "123456789012.dkr.ecr.us-east-1.amazonaws.com/api:v42": failed to do request: Head "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/v2/api/manifests/v42": dial tcp 10.0.3.17:443: i/o timeout';
    assert.deepEqual(explainError(text).matches.map((match) => match.id), ['cannot-pull-container']);
  });

  it('unknown text: not recognised, with the next steps', () => {
    const result = explainError('segfault in the flux capacitor');
    assert.equal(result.recognised, false);
    assert.deepEqual(result.matches, []);
    assert.ok(result.nextSteps!.some((step) => step.startsWith('berth doctor')));
  });

  it('is offered as the toolbox operation doctor/explain, without an MCP tool', async () => {
    assert.deepEqual(doctorOperations, [explainErrorOperation]);
    assert.equal(explainErrorOperation.apiPath, 'doctor/explain');
    assert.equal(explainErrorOperation.mcpTool, undefined);
    assert.equal(explainErrorOperation.input.safeParse({}).success, false);
    const context = { registryLogin: async () => undefined, ecrClient: () => { throw new Error('not used'); }, progress: () => undefined, localFiles: false };
    const result = await explainErrorOperation.run({ text: 'exec /bin/sh: exec format error' }, context as never);
    assert.equal(result.matches[0]!.id, 'exec-format-error');
  });
});
