import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { missingActions, sidFor, summariseStatements, withStatementFor, type Policy } from '../../../src/toolbox/ecr/policy-statements.ts';

const pull = ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'];

describe('policy statements: stable Sids, replacing a principal’s statement, what a policy allows', () => {
  it('derives a stable Sid per principal; an account id and its root ARN are one principal', () => {
    assert.equal(sidFor({ AWS: '123456789012' }), sidFor({ AWS: 'arn:aws:iam::123456789012:root' }));
    assert.notEqual(sidFor({ AWS: 'arn:aws:iam::123456789012:user/a.b' }), sidFor({ AWS: 'arn:aws:iam::123456789012:user/a-b' }));
    assert.match(sidFor({ Service: 'omics.amazonaws.com' }), /^BerthGrantServiceOmicsAmazonawsCom[0-9a-f]{8}$/);
  });

  it('replaces our statement and unconditional Allows naming only the principal; keeps shared, conditional and Deny statements', () => {
    const principal = { AWS: 'arn:aws:iam::123456789012:root' };
    const policy: Policy = {
      Version: '2012-10-17',
      Statement: [
        { Sid: 'Old', Effect: 'Allow', Principal: { AWS: '123456789012' }, Action: 'ecr:BatchGetImage' },
        { Sid: 'Shared', Effect: 'Allow', Principal: { AWS: ['123456789012', '210987654321'] }, Action: pull },
        { Sid: 'Conditional', Effect: 'Allow', Principal: { AWS: '123456789012' }, Action: pull, Condition: { StringEquals: { 'aws:username': 'x' } } },
        { Sid: 'NoDelete', Effect: 'Deny', Principal: { AWS: '123456789012' }, Action: 'ecr:BatchDeleteImage' },
        { Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::123456789012:root' }, Action: pull },
      ],
    };
    const statement = { Sid: sidFor(principal), Effect: 'Allow', Principal: principal, Action: pull };
    const { policy: merged, replaced } = withStatementFor(policy, principal, statement);
    assert.deepEqual(replaced.map((s) => s.Sid ?? '(none)'), ['Old', '(none)']);
    assert.deepEqual(merged.Statement.map((s) => s.Sid), ['Shared', 'Conditional', 'NoDelete', statement.Sid]);
  });

  it('missingActions follows wildcards, NotAction, Deny and Resource patterns (regions not compared)', () => {
    const service = { Service: 'omics.amazonaws.com' };
    const policy = (statements: Policy['Statement']): Policy => ({ Version: '2012-10-17', Statement: statements });
    assert.deepEqual(missingActions(policy([{ Effect: 'Allow', Principal: { Service: 'omics.amazonaws.com' }, Action: 'ecr:*' }]), service, pull), []);
    assert.deepEqual(missingActions(policy([{ Effect: 'Allow', Principal: '*', NotAction: 'ecr:GetDownloadUrlForLayer' }]), service, pull), ['ecr:GetDownloadUrlForLayer']);
    assert.deepEqual(
      missingActions(policy([{ Effect: 'Allow', Principal: '*', Action: pull }, { Effect: 'Deny', Principal: { Service: 'omics.amazonaws.com' }, Action: 'ecr:BatchGetImage' }]), service, pull),
      ['ecr:BatchGetImage'],
    );
    const scoped = policy([{ Effect: 'Allow', Principal: { Service: 'omics.amazonaws.com' }, Action: ['ecr:CreateRepository'], Resource: 'arn:aws:ecr:eu-west-2:123456789012:repository/hub/*' }]);
    assert.deepEqual(missingActions(scoped, service, ['ecr:CreateRepository'], 'arn:aws:ecr:*:123456789012:repository/hub/example'), []);
    assert.deepEqual(missingActions(scoped, service, ['ecr:CreateRepository'], 'arn:aws:ecr:*:123456789012:repository/quay/example'), ['ecr:CreateRepository']);
  });

  it('summarises statements as pull / push', () => {
    const [pullOnly, everything] = summariseStatements({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'P', Effect: 'Allow', Principal: { AWS: '123456789012' }, Action: pull },
        { Effect: 'Allow', Principal: '*', Action: '*' },
      ],
    });
    assert.deepEqual([pullOnly!.pull, pullOnly!.push, pullOnly!.principals], [true, false, ['123456789012']]);
    assert.deepEqual([everything!.pull, everything!.push, everything!.principals], [true, true, ['*']]);
  });
});
