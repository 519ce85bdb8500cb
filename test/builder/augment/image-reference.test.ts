import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AugmentError } from '../../../src/builder/augment/augment-errors.ts';
import { formatImageReference, parseImageReference } from '../../../src/builder/augment/image-reference.ts';

const invalid = (pattern: RegExp) => (error: unknown) => error instanceof AugmentError && error.kind === 'InvalidRequest' && pattern.test(error.message);

describe('parseImageReference', () => {
  it('reads tags, digests and this registry host, and defaults to latest', () => {
    const digest = `sha256:${'d'.repeat(64)}`;
    assert.deepEqual(parseImageReference('team/tools/base:1'), { name: { full: 'team/tools/base', workspace: 'team', path: 'tools/base' }, reference: { tag: '1' } });
    assert.deepEqual(parseImageReference('127.0.0.1:8080/team/base', ['127.0.0.1:8080']).reference, { tag: 'latest' });
    assert.deepEqual(parseImageReference(`team/base@${digest}`).reference, { digest });
    assert.equal(parseImageReference('my.team/base:2').name.workspace, 'my.team', 'a dotted first component is a workspace');
    assert.equal(formatImageReference(parseImageReference('127.0.0.1:8080/team/base', ['127.0.0.1:8080'])), 'team/base:latest');
    assert.equal(formatImageReference(parseImageReference(`team/base@${digest}`)), `team/base@${digest}`);
  });

  it('refuses another registry, and bad names', () => {
    assert.throws(() => parseImageReference('quay.io:443/team/base:1', ['127.0.0.1:8080']), invalid(/names registry quay.io:443, not this Berth \(this Berth is 127.0.0.1:8080\)/));
    assert.throws(() => parseImageReference('localhost/team/base:1'), invalid(/names registry localhost/));
    assert.throws(() => parseImageReference('Team/Base:1'), invalid(/invalid repository name/));
    assert.throws(() => parseImageReference('base:1'), invalid(/must start with a workspace/));
  });
});
