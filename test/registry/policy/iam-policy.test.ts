import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalEcrAction, ecrActions, isEcrAction, pullActions, pushActions, registryPolicyActions } from '../../../src/registry/policy/ecr-actions.ts';
import {
  evaluatePolicy,
  maxPolicyLength,
  parsePolicy,
  PolicyError,
  type PolicyCaller,
  type PolicyDocument,
  type PolicyKind,
  type PolicyRequest,
} from '../../../src/registry/policy/iam-policy.ts';

const ownerAccount = '123456789012';
const partnerAccount = '111122223333';
const strangerAccount = '444455556666';
const repositoryArn = `arn:aws:ecr:eu-west-2:${ownerAccount}:repository/tools/x`;

const account = (id: string): PolicyCaller => ({ aws: [id] });
const anonymous: PolicyCaller = { aws: [] };

/** Policy text for `statements` (objects), so each test shows only what it is about. */
const policyText = (...statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const repositoryPolicy = (...statements: object[]) => parsePolicy(policyText(...statements), 'repository');

function decide(policy: PolicyDocument, caller: PolicyCaller, action: string, extra: Partial<PolicyRequest> = {}) {
  return evaluatePolicy(policy, { caller, action, resource: repositoryArn, ...extra });
}

const crossAccountPull = {
  Sid: 'CrossAccountPull',
  Effect: 'Allow',
  Principal: { AWS: `arn:aws:iam::${partnerAccount}:root` },
  Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
};

describe('ECR actions', () => {
  it('lists every action the brief names, each once', () => {
    for (const name of [
      'ecr:BatchCheckLayerAvailability',
      'ecr:BatchGetImage',
      'ecr:GetDownloadUrlForLayer',
      'ecr:InitiateLayerUpload',
      'ecr:UploadLayerPart',
      'ecr:CompleteLayerUpload',
      'ecr:PutImage',
      'ecr:DescribeImages',
      'ecr:ListImages',
      'ecr:DescribeRepositories',
      'ecr:CreateRepository',
      'ecr:DeleteRepository',
      'ecr:BatchDeleteImage',
      'ecr:SetRepositoryPolicy',
      'ecr:GetRepositoryPolicy',
      'ecr:DeleteRepositoryPolicy',
      'ecr:PutLifecyclePolicy',
      'ecr:BatchImportUpstreamImage',
      'ecr:CreatePullThroughCacheRule',
      'ecr:ReplicateImage',
    ]) {
      assert.ok(isEcrAction(name), name);
    }
    assert.equal(new Set(ecrActions).size, ecrActions.length);
    assert.ok(ecrActions.every((action) => /^ecr:[A-Z][A-Za-z]+$/.test(action)));
  });

  it('groups pull, push and registry-level actions as Berth checks them', () => {
    assert.deepEqual([...pullActions].sort(), ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer']);
    assert.deepEqual([...pushActions].sort(), [
      'ecr:BatchCheckLayerAvailability',
      'ecr:CompleteLayerUpload',
      'ecr:InitiateLayerUpload',
      'ecr:PutImage',
      'ecr:UploadLayerPart',
    ]);
    assert.deepEqual([...registryPolicyActions].sort(), ['ecr:BatchImportUpstreamImage', 'ecr:CreateRepository', 'ecr:ReplicateImage']);
  });

  it('looks names up case-insensitively and answers with AWS spelling', () => {
    assert.equal(canonicalEcrAction('ECR:batchgetimage'), 'ecr:BatchGetImage');
    assert.equal(canonicalEcrAction('ecr:PullImage'), undefined);
    assert.equal(isEcrAction('s3:GetObject'), false);
  });
});

describe('parsePolicy', () => {
  it('keeps the original text unchanged and reads every element', () => {
    const text = `{
      "Version": "2008-10-17", "Id": "tools",
      "Statement": [{
        "Sid": "Pull", "Effect": "Allow",
        "Principal": {"AWS": ["${partnerAccount}", "arn:aws:iam::${strangerAccount}:role/ci/builder"], "Service": "omics.amazonaws.com"},
        "Action": "ecr:BatchGetImage",
        "Resource": ["${repositoryArn}"],
        "Condition": {"ForAnyValue:StringLikeIfExists": {"aws:PrincipalTag/team": ["data-*", 7, true]}}
      }]
    }`;
    const policy = parsePolicy(text, 'repository');
    assert.equal(policy.text, text);
    assert.equal(policy.version, '2008-10-17');
    assert.equal(policy.id, 'tools');
    assert.deepEqual(policy.statements, [
      {
        sid: 'Pull',
        effect: 'Allow',
        principals: { aws: [partnerAccount, `arn:aws:iam::${strangerAccount}:role/ci/builder`], service: ['omics.amazonaws.com'] },
        actions: ['ecr:BatchGetImage'],
        resources: [repositoryArn],
        conditions: [
          {
            operator: 'ForAnyValue:StringLikeIfExists',
            test: 'StringLike',
            set: 'ForAnyValue',
            ifExists: true,
            key: 'aws:PrincipalTag/team',
            values: ['data-*', '7', 'true'],
          },
        ],
      },
    ]);
  });

  it('accepts a single statement object, "*" principals and actions, and Not elements', () => {
    const policy = parsePolicy(
      JSON.stringify({
        Version: '2012-10-17',
        Statement: { Effect: 'Deny', NotPrincipal: { AWS: ownerAccount }, NotAction: '*', NotResource: 'arn:aws:ecr:*:*:repository/public/*' },
      }),
      'repository',
    );
    assert.deepEqual(policy.statements, [
      {
        effect: 'Deny',
        notPrincipals: { aws: [ownerAccount], service: [] },
        notActions: ['*'],
        notResources: ['arn:aws:ecr:*:*:repository/public/*'],
      },
    ]);
    assert.deepEqual(repositoryPolicy({ Effect: 'Allow', Principal: '*', Action: 'ecr:*' }).statements[0]?.principals, '*');
  });

  it('accepts the registry-level actions (or a wildcard reaching them) in a registry policy', () => {
    const policy = parsePolicy(
      policyText({
        Effect: 'Allow',
        Principal: { AWS: `arn:aws:iam::${partnerAccount}:root` },
        Action: ['ecr:CreateRepository', 'ecr:ReplicateImage', 'ecr:BatchImport*'],
        Resource: `arn:aws:ecr:eu-west-2:${ownerAccount}:repository/*`,
      }),
      'registry',
    );
    assert.deepEqual(policy.statements[0]?.actions, ['ecr:CreateRepository', 'ecr:ReplicateImage', 'ecr:BatchImport*']);
  });

  it(`accepts text of exactly ${maxPolicyLength} characters`, () => {
    const text = policyText(crossAccountPull);
    const padded = text + ' '.repeat(maxPolicyLength - text.length);
    assert.equal(parsePolicy(padded, 'repository').text.length, maxPolicyLength);
  });

  const allow = { Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage' };
  const badDocuments: { name: string; kind?: PolicyKind; text: string; message: string | RegExp }[] = [
    { name: 'empty text', text: '  ', message: 'policy text is empty' },
    { name: 'text that is not JSON', text: '{"Version": ', message: /^policy text is not valid JSON: / },
    { name: 'a JSON array', text: '[]', message: 'policy must be a JSON object' },
    {
      name: 'text over the size limit',
      text: policyText({ ...allow, Sid: 'x'.repeat(maxPolicyLength) }),
      message: /^policy text is 10\d{3} characters long; the limit is 10240$/,
    },
    {
      name: 'an unknown top-level key',
      text: JSON.stringify({ Version: '2012-10-17', Statement: [allow], Comment: 'x' }),
      message: 'policy has unknown key "Comment" (allowed: Version, Id, Statement)',
    },
    {
      name: 'a wrongly cased top-level key',
      text: JSON.stringify({ Version: '2012-10-17', statement: [allow] }),
      message: 'policy has unknown key "statement" (did you mean "Statement"?)',
    },
    { name: 'no Version', text: JSON.stringify({ Statement: [allow] }), message: 'Version is required: "2012-10-17" or "2008-10-17"' },
    {
      name: 'an unknown Version',
      text: JSON.stringify({ Version: '2020-01-01', Statement: [allow] }),
      message: 'Version must be "2012-10-17" or "2008-10-17", not "2020-01-01"',
    },
    { name: 'no Statement', text: JSON.stringify({ Version: '2012-10-17' }), message: 'Statement is required' },
    { name: 'an empty Statement array', text: policyText(), message: 'Statement must be an object or a non-empty array of objects' },
    {
      name: 'a Statement string',
      text: JSON.stringify({ Version: '2012-10-17', Statement: 'allow all' }),
      message: 'Statement must be an object or a non-empty array of objects',
    },
    {
      name: 'a statement that is not an object',
      text: JSON.stringify({ Version: '2012-10-17', Statement: [allow, 'Allow'] }),
      message: 'Statement[1] must be an object',
    },
    {
      name: 'an unknown statement key',
      text: policyText({ ...allow, Effects: 'Allow' }),
      message: /^Statement\[0\] has unknown key "Effects" \(allowed: Sid, Effect, /,
    },
    {
      name: 'a lower-case statement key',
      text: policyText(allow, { effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage' }),
      message: 'Statement[1] has unknown key "effect" (did you mean "Effect"?)',
    },
    { name: 'no Effect', text: policyText({ Principal: '*', Action: 'ecr:*' }), message: 'Statement[0].Effect is required: "Allow" or "Deny"' },
    {
      name: 'an Effect in the wrong case',
      text: policyText(allow, { ...allow, Effect: 'allow' }),
      message: 'Statement[1].Effect must be "Allow" or "Deny", not "allow"',
    },
    {
      name: 'a single statement object with a bad Effect',
      text: JSON.stringify({ Version: '2012-10-17', Statement: { ...allow, Effect: 'Permit' } }),
      message: 'Statement.Effect must be "Allow" or "Deny", not "Permit"',
    },
    { name: 'a Sid that is not a string', text: policyText({ ...allow, Sid: 7 }), message: 'Statement[0].Sid must be a string, not 7' },
    {
      name: 'a repeated Sid',
      text: policyText({ ...allow, Sid: 'Pull' }, { ...allow, Sid: 'Push' }, { ...allow, Sid: 'Pull' }),
      message: 'Statement[2].Sid "Pull" repeats Statement[0].Sid; Sids must be unique',
    },
    { name: 'neither Action nor NotAction', text: policyText({ Effect: 'Allow', Principal: '*' }), message: 'Statement[0] needs an Action or a NotAction' },
    {
      name: 'both Action and NotAction',
      text: policyText({ ...allow, NotAction: 'ecr:PutImage' }),
      message: 'Statement[0] has both Action and NotAction; use one',
    },
    { name: 'an empty Action array', text: policyText({ ...allow, Action: [] }), message: 'Statement[0].Action must be a string or a non-empty array of strings' },
    {
      name: 'an Action item that is not a string',
      text: policyText({ ...allow, Action: ['ecr:BatchGetImage', 42] }),
      message: 'Statement[0].Action[1] must be a string, not 42',
    },
    {
      name: 'an action that is not an ECR action',
      text: policyText({ ...allow, Action: ['ecr:BatchGetImage', 'ecr:PullImage'] }),
      message: 'Statement[0].Action[1] "ecr:PullImage" is not an Amazon ECR action',
    },
    {
      name: 'another service prefix',
      text: policyText({ ...allow, Action: 's3:GetObject' }),
      message: 'Statement[0].Action "s3:GetObject" is not an Amazon ECR action; a repository policy may only name ecr: actions',
    },
    {
      name: 'an action without a service prefix',
      text: policyText({ ...allow, NotAction: ['BatchGetImage'], Action: undefined }),
      message: 'Statement[0].NotAction[0] "BatchGetImage" must look like "ecr:<Action>"',
    },
    {
      name: 'a registry policy naming a repository-level action',
      kind: 'registry',
      text: policyText({ ...allow, Resource: '*', Action: ['ecr:ReplicateImage', 'ecr:BatchGetImage'] }),
      message:
        'Statement[0].Action[1] "ecr:BatchGetImage" is not allowed in a registry policy, which only takes ecr:ReplicateImage, ecr:BatchImportUpstreamImage, ecr:CreateRepository',
    },
    {
      name: 'a repository policy without a principal',
      text: policyText({ Effect: 'Allow', Action: 'ecr:*' }),
      message: 'Statement[0] needs a Principal or a NotPrincipal',
    },
    {
      name: 'both Principal and NotPrincipal',
      text: policyText({ ...allow, NotPrincipal: { AWS: ownerAccount } }),
      message: 'Statement[0] has both Principal and NotPrincipal; use one',
    },
    {
      name: 'a Principal string other than "*"',
      text: policyText({ ...allow, Principal: ownerAccount }),
      message: 'Statement[0].Principal must be "*" or an object with AWS and/or Service',
    },
    {
      name: 'an unknown principal type',
      text: policyText({ ...allow, Principal: { Federated: 'cognito-identity.amazonaws.com' } }),
      message: 'Statement[0].Principal has unknown principal type "Federated" (allowed: AWS, Service)',
    },
    {
      name: 'a lower-case principal type',
      text: policyText({ ...allow, Principal: { aws: ownerAccount } }),
      message: 'Statement[0].Principal has unknown principal type "aws" (did you mean "AWS"?)',
    },
    { name: 'an empty Principal object', text: policyText({ ...allow, Principal: {} }), message: 'Statement[0].Principal must name AWS and/or Service principals' },
    {
      name: 'an account id that is too short',
      text: policyText({ ...allow, Principal: { AWS: [ownerAccount, 'arn:aws:iam::12345:root'] } }),
      message: 'Statement[0].Principal.AWS[1] "arn:aws:iam::12345:root" is not "*", a 12-digit account id, or arn:aws:iam::<account>:root|user/<name>|role/<name>',
    },
    {
      name: 'an IAM ARN of an unsupported kind',
      text: policyText({ ...allow, Principal: { AWS: `arn:aws:iam::${ownerAccount}:group/admins` } }),
      message: `Statement[0].Principal.AWS "arn:aws:iam::${ownerAccount}:group/admins" is not "*", a 12-digit account id, or arn:aws:iam::<account>:root|user/<name>|role/<name>`,
    },
    {
      name: 'an empty AWS principal list',
      text: policyText({ ...allow, Principal: { AWS: [] } }),
      message: 'Statement[0].Principal.AWS must be a string or a non-empty array of strings',
    },
    {
      name: 'a malformed service principal',
      text: policyText({ ...allow, Principal: { Service: 'Omics Service' } }),
      message: 'Statement[0].Principal.Service "Omics Service" is not a service principal such as "omics.amazonaws.com"',
    },
    {
      name: 'NotPrincipal "*"',
      text: policyText({ Effect: 'Deny', NotPrincipal: { AWS: '*' }, Action: 'ecr:*' }),
      message: 'Statement[0].NotPrincipal cannot be "*": the statement would apply to no one',
    },
    {
      name: 'a registry policy without Resource',
      kind: 'registry',
      text: policyText({ ...allow, Action: 'ecr:ReplicateImage' }),
      message: 'Statement[0] needs a Resource or a NotResource (required in a registry policy)',
    },
    {
      name: 'both Resource and NotResource',
      text: policyText({ ...allow, Resource: '*', NotResource: repositoryArn }),
      message: 'Statement[0] has both Resource and NotResource; use one',
    },
    {
      name: 'a Resource that is not an ARN',
      text: policyText({ ...allow, Resource: ['*', 'repository/tools/x'] }),
      message: 'Statement[0].Resource[1] "repository/tools/x" is not "*" or an ARN such as arn:aws:ecr:<region>:<account>:repository/<name>',
    },
    {
      name: 'a Condition that is not an object',
      text: policyText({ ...allow, Condition: ['StringEquals'] }),
      message: 'Statement[0].Condition must be an object mapping operators to {key: value(s)}',
    },
    {
      name: 'an unknown condition operator',
      text: policyText({ ...allow, Condition: { StringEqualz: { 'aws:PrincipalOrgID': 'o-1' } } }),
      message: 'Statement[0].Condition has unknown operator "StringEqualz"',
    },
    {
      name: 'an unknown set qualifier',
      text: policyText({ ...allow, Condition: { 'ForSomeValues:StringLike': { 'aws:TagKeys': 'a*' } } }),
      message: 'Statement[0].Condition has unknown operator "ForSomeValues:StringLike"',
    },
    {
      name: 'Null with IfExists',
      text: policyText({ ...allow, Condition: { NullIfExists: { 'aws:SourceIp': 'true' } } }),
      message: 'Statement[0].Condition has unknown operator "NullIfExists"',
    },
    {
      name: 'an empty operator block',
      text: policyText({ ...allow, Condition: { StringEquals: {} } }),
      message: 'Statement[0].Condition.StringEquals must be an object mapping condition keys to values',
    },
    {
      name: 'a condition value that is an object',
      text: policyText({ ...allow, Condition: { StringEquals: { 'aws:PrincipalOrgID': { id: 'o-1' } } } }),
      message: 'Statement[0].Condition.StringEquals["aws:PrincipalOrgID"] must be a string, number, boolean or a non-empty array of them',
    },
    {
      name: 'a numeric condition on text',
      text: policyText({ ...allow, Condition: { NumericLessThan: { 'aws:MultiFactorAuthAge': ['3600', 'an hour'] } } }),
      message: 'Statement[0].Condition.NumericLessThan["aws:MultiFactorAuthAge"] value "an hour" is not a number',
    },
    {
      name: 'a Bool condition on "yes"',
      text: policyText({ ...allow, Condition: { Bool: { 'aws:SecureTransport': 'yes' } } }),
      message: 'Statement[0].Condition.Bool["aws:SecureTransport"] value "yes" is not "true" or "false"',
    },
    {
      name: 'a date condition on a non-date',
      text: policyText({ ...allow, Condition: { DateLessThan: { 'aws:CurrentTime': 'next week' } } }),
      message: 'Statement[0].Condition.DateLessThan["aws:CurrentTime"] value "next week" is not a date (ISO 8601 or epoch seconds)',
    },
    {
      name: 'an IP condition on a bad CIDR block',
      text: policyText({ ...allow, Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } }),
      message: 'Statement[0].Condition.IpAddress["aws:SourceIp"] value "10.0.0.0/33" is not an IP address or CIDR block',
    },
  ];

  for (const bad of badDocuments) {
    it(`rejects ${bad.name}`, () => {
      assert.throws(
        () => parsePolicy(bad.text, bad.kind ?? 'repository'),
        (error: unknown) => {
          assert.ok(error instanceof PolicyError, `expected a PolicyError, got ${String(error)}`);
          if (typeof bad.message === 'string') assert.equal(error.message, bad.message);
          else assert.match(error.message, bad.message);
          return true;
        },
      );
    });
  }
});

describe('evaluatePolicy', () => {
  describe('a cross-account pull policy', () => {
    const policy = repositoryPolicy(crossAccountPull);

    it('allows the three pull actions for the granted account', () => {
      for (const action of pullActions) assert.equal(decide(policy, account(partnerAccount), action), 'allow', action);
    });

    it('covers identities inside the granted account and the root ARN form', () => {
      const alice: PolicyCaller = { aws: [`arn:aws:iam::${partnerAccount}:user/alice`] };
      assert.equal(decide(policy, alice, 'ecr:BatchGetImage'), 'allow');
      assert.equal(decide(policy, account(`arn:aws:iam::${partnerAccount}:root`), 'ecr:BatchGetImage'), 'allow');
    });

    it('says nothing about pushes, other actions, other accounts or anonymous callers', () => {
      for (const action of pushActions.filter((action) => !pullActions.includes(action))) {
        assert.equal(decide(policy, account(partnerAccount), action), 'none', action);
      }
      assert.equal(decide(policy, account(partnerAccount), 'ecr:DeleteRepository'), 'none');
      assert.equal(decide(policy, account(strangerAccount), 'ecr:BatchGetImage'), 'none');
      assert.equal(decide(policy, anonymous, 'ecr:BatchGetImage'), 'none');
    });

    it('treats a bare account id principal like its root ARN', () => {
      const byId = repositoryPolicy({ ...crossAccountPull, Principal: { AWS: partnerAccount } });
      assert.equal(decide(byId, { aws: [`arn:aws:iam::${partnerAccount}:role/ci`] }, 'ecr:BatchGetImage'), 'allow');
      assert.equal(decide(byId, account(strangerAccount), 'ecr:BatchGetImage'), 'none');
    });
  });

  it('matches a user or role principal only to that identity', () => {
    const role = `arn:aws:iam::${partnerAccount}:role/ci/builder`;
    const policy = repositoryPolicy({ Effect: 'Allow', Principal: { AWS: role }, Action: 'ecr:BatchGetImage' });
    assert.equal(decide(policy, { aws: [partnerAccount, role] }, 'ecr:BatchGetImage'), 'allow');
    assert.equal(decide(policy, { aws: [partnerAccount, `arn:aws:iam::${partnerAccount}:role/other`] }, 'ecr:BatchGetImage'), 'none');
    assert.equal(decide(policy, account(partnerAccount), 'ecr:BatchGetImage'), 'none');
  });

  it('lets an explicit Deny win over any Allow, in either order', () => {
    const allowAll = { Effect: 'Allow', Principal: '*', Action: 'ecr:*' };
    const denyPush = { Effect: 'Deny', Principal: { AWS: partnerAccount }, Action: pushActions };
    for (const policy of [repositoryPolicy(allowAll, denyPush), repositoryPolicy(denyPush, allowAll)]) {
      assert.equal(decide(policy, account(partnerAccount), 'ecr:PutImage'), 'deny');
      assert.equal(decide(policy, account(partnerAccount), 'ecr:BatchGetImage'), 'allow');
      assert.equal(decide(policy, account(strangerAccount), 'ecr:PutImage'), 'allow');
    }
  });

  it('matches "*" principals to everyone, anonymous callers included', () => {
    for (const principal of ['*', { AWS: '*' }]) {
      const policy = repositoryPolicy({ Effect: 'Allow', Principal: principal, Action: pullActions });
      assert.equal(decide(policy, anonymous, 'ecr:BatchGetImage'), 'allow');
      assert.equal(decide(policy, { aws: [], service: 'omics.amazonaws.com' }, 'ecr:BatchGetImage'), 'allow');
    }
  });

  it('expands action wildcards case-insensitively', () => {
    const everything = repositoryPolicy({ Effect: 'Allow', Principal: '*', Action: 'ecr:*' });
    assert.equal(decide(everything, anonymous, 'ecr:DescribeImages'), 'allow');
    assert.equal(decide(everything, anonymous, 's3:GetObject'), 'none');

    const batch = repositoryPolicy({ Effect: 'Allow', Principal: '*', Action: 'ecr:Batch*' });
    assert.equal(decide(batch, anonymous, 'ecr:BatchGetImage'), 'allow');
    assert.equal(decide(batch, anonymous, 'ecr:BatchCheckLayerAvailability'), 'allow');
    assert.equal(decide(batch, anonymous, 'ecr:GetDownloadUrlForLayer'), 'none');

    const single = repositoryPolicy({ Effect: 'Allow', Principal: '*', Action: ['ECR:batchgetimag?', 'ecr:*Layer*Upload'] });
    assert.equal(decide(single, anonymous, 'ecr:BatchGetImage'), 'allow');
    assert.equal(decide(single, anonymous, 'ecr:InitiateLayerUpload'), 'allow');
    assert.equal(decide(single, anonymous, 'ecr:CompleteLayerUpload'), 'allow');
    assert.equal(decide(single, anonymous, 'ecr:UploadLayerPart'), 'none');
    assert.equal(decide(single, anonymous, 'ecr:BatchGetImages'), 'none');
  });

  it('applies NotAction to every action it does not list', () => {
    const policy = repositoryPolicy({ Effect: 'Allow', Principal: { AWS: partnerAccount }, NotAction: ['ecr:Delete*', 'ecr:BatchDeleteImage'] });
    assert.equal(decide(policy, account(partnerAccount), 'ecr:PutImage'), 'allow');
    assert.equal(decide(policy, account(partnerAccount), 'ecr:DeleteRepository'), 'none');
    assert.equal(decide(policy, account(partnerAccount), 'ecr:BatchDeleteImage'), 'none');
  });

  it('applies NotPrincipal to every caller it does not list', () => {
    const policy = repositoryPolicy(
      { Effect: 'Allow', Principal: '*', Action: 'ecr:*' },
      { Effect: 'Deny', NotPrincipal: { AWS: `arn:aws:iam::${ownerAccount}:root`, Service: 'omics.amazonaws.com' }, Action: 'ecr:Put*' },
    );
    assert.equal(decide(policy, account(ownerAccount), 'ecr:PutImage'), 'allow');
    assert.equal(decide(policy, { aws: [], service: 'omics.amazonaws.com' }, 'ecr:PutImage'), 'allow');
    assert.equal(decide(policy, account(partnerAccount), 'ecr:PutImage'), 'deny');
    assert.equal(decide(policy, anonymous, 'ecr:PutImage'), 'deny');
    assert.equal(decide(policy, account(partnerAccount), 'ecr:BatchGetImage'), 'allow');
  });

  it('matches Service principals to a service caller only', () => {
    const policy = repositoryPolicy({ Effect: 'Allow', Principal: { Service: 'omics.amazonaws.com' }, Action: pullActions });
    assert.equal(decide(policy, { aws: [], service: 'omics.amazonaws.com' }, 'ecr:GetDownloadUrlForLayer'), 'allow');
    assert.equal(decide(policy, { aws: [], service: 'codebuild.amazonaws.com' }, 'ecr:GetDownloadUrlForLayer'), 'none');
    assert.equal(decide(policy, account(partnerAccount), 'ecr:GetDownloadUrlForLayer'), 'none');
  });

  it('matches Resource ARN patterns part by part, and NotResource inverts', () => {
    const registry = parsePolicy(
      policyText(
        {
          Effect: 'Allow',
          Principal: { AWS: partnerAccount },
          Action: ['ecr:CreateRepository', 'ecr:BatchImportUpstreamImage'],
          Resource: `arn:aws:ecr:*:${ownerAccount}:repository/docker-hub/*`,
        },
        { Effect: 'Deny', Principal: '*', Action: 'ecr:CreateRepository', NotResource: 'arn:aws:ecr:eu-west-?:*:repository/*' },
      ),
      'registry',
    );
    const ask = (resource: string, action = 'ecr:BatchImportUpstreamImage') =>
      evaluatePolicy(registry, { caller: account(partnerAccount), action, resource });
    assert.equal(ask(`arn:aws:ecr:eu-west-2:${ownerAccount}:repository/docker-hub/library/alpine`), 'allow');
    assert.equal(ask(`arn:aws:ecr:eu-west-2:${ownerAccount}:repository/quay/org/x`), 'none');
    assert.equal(ask(`arn:aws:ecr:eu-west-2:${strangerAccount}:repository/docker-hub/x`), 'none');
    // A wildcard matches within one ARN part only: the region's `*` cannot swallow a stranger's account.
    assert.equal(ask(`arn:aws:ecr:eu-west-2:${strangerAccount}:x:${ownerAccount}:repository/docker-hub/x`), 'none');
    assert.equal(ask(`arn:aws:ecr:eu-west-2:${ownerAccount}:repository/docker-hub/x`, 'ecr:CreateRepository'), 'allow');
    assert.equal(ask(`arn:aws:ecr:us-east-1:${ownerAccount}:repository/docker-hub/x`, 'ecr:CreateRepository'), 'deny');
  });

  it('treats a repository statement without Resource as covering the repository', () => {
    const policy = repositoryPolicy(crossAccountPull);
    assert.equal(evaluatePolicy(policy, { caller: account(partnerAccount), action: 'ecr:BatchGetImage', resource: repositoryArn }), 'allow');
  });

  describe('conditions', () => {
    const pullWhen = (condition: object, ...more: object[]) =>
      repositoryPolicy({ Effect: 'Allow', Principal: '*', Action: 'ecr:BatchGetImage', Condition: condition }, ...more);
    const pull = (policy: PolicyDocument, context?: Record<string, string | string[]>) =>
      decide(policy, account(partnerAccount), 'ecr:BatchGetImage', context === undefined ? {} : { context });

    it('StringEquals holds for any listed value, fails on a missing key, and compares key names case-insensitively', () => {
      const policy = pullWhen({ StringEquals: { 'aws:PrincipalOrgID': ['o-abc', 'o-def'] } });
      assert.equal(pull(policy, { 'aws:PrincipalOrgID': 'o-def' }), 'allow');
      assert.equal(pull(policy, { 'AWS:principalorgid': 'o-abc' }), 'allow');
      assert.equal(pull(policy, { 'aws:PrincipalOrgID': 'O-ABC' }), 'none');
      assert.equal(pull(policy, {}), 'none');
      assert.equal(pull(policy), 'none');
    });

    it('needs every key and every operator to hold', () => {
      const policy = pullWhen({ StringEquals: { 'aws:PrincipalOrgID': 'o-abc', 'aws:PrincipalAccount': partnerAccount }, Bool: { 'aws:SecureTransport': true } });
      const all = { 'aws:PrincipalOrgID': 'o-abc', 'aws:PrincipalAccount': partnerAccount, 'aws:SecureTransport': 'true' };
      assert.equal(pull(policy, all), 'allow');
      assert.equal(pull(policy, { ...all, 'aws:SecureTransport': 'false' }), 'none');
      assert.equal(pull(policy, { ...all, 'aws:PrincipalAccount': strangerAccount }), 'none');
    });

    it('negated operators hold on a missing key and when no value matches', () => {
      const deny = pullWhen({}, { Effect: 'Deny', Principal: '*', Action: 'ecr:*', Condition: { StringNotEquals: { 'aws:PrincipalOrgID': 'o-abc' } } });
      assert.equal(pull(deny, { 'aws:PrincipalOrgID': 'o-abc' }), 'allow');
      assert.equal(pull(deny, { 'aws:PrincipalOrgID': 'o-xyz' }), 'deny');
      assert.equal(pull(deny, {}), 'deny');
      const notLike = pullWhen({ StringNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:role/admin-*' } });
      assert.equal(pull(notLike, { 'aws:PrincipalArn': `arn:aws:iam::${partnerAccount}:role/ci` }), 'allow');
      assert.equal(pull(notLike, { 'aws:PrincipalArn': `arn:aws:iam::${partnerAccount}:role/admin-1` }), 'none');
      assert.equal(pull(notLike, {}), 'allow');
    });

    it('IfExists holds on a missing key but still tests a present one', () => {
      const policy = pullWhen({ StringLikeIfExists: { 'ecr:ResourceTag/team': 'data-*' } });
      assert.equal(pull(policy, {}), 'allow');
      assert.equal(pull(policy, { 'ecr:ResourceTag/team': 'data-eng' }), 'allow');
      assert.equal(pull(policy, { 'ecr:ResourceTag/team': 'web' }), 'none');
    });

    it('ForAnyValue needs one request value to match and fails on a missing key', () => {
      const policy = pullWhen({ 'ForAnyValue:StringLike': { 'aws:PrincipalTag/groups': ['eng-*', 'ops'] } });
      assert.equal(pull(policy, { 'aws:PrincipalTag/groups': ['sales', 'eng-data'] }), 'allow');
      assert.equal(pull(policy, { 'aws:PrincipalTag/groups': ['sales', 'hr'] }), 'none');
      assert.equal(pull(policy, { 'aws:PrincipalTag/groups': [] }), 'none');
      assert.equal(pull(policy, {}), 'none');
      assert.equal(pull(pullWhen({ 'ForAnyValue:StringLikeIfExists': { 'aws:PrincipalTag/groups': 'eng-*' } }), {}), 'allow');
    });

    it('ForAllValues needs every request value to match and holds on a missing key', () => {
      const policy = pullWhen({ 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team', 'cost-centre'] } });
      assert.equal(pull(policy, { 'aws:TagKeys': ['team'] }), 'allow');
      assert.equal(pull(policy, { 'aws:TagKeys': ['team', 'owner'] }), 'none');
      assert.equal(pull(policy, {}), 'allow');
    });

    it('an unqualified operator on a multi-valued key matches when any value does (negated: when none does)', () => {
      assert.equal(pull(pullWhen({ StringEquals: { 'aws:TagKeys': 'team' } }), { 'aws:TagKeys': ['owner', 'team'] }), 'allow');
      assert.equal(pull(pullWhen({ StringNotEquals: { 'aws:TagKeys': 'team' } }), { 'aws:TagKeys': ['owner', 'team'] }), 'none');
      assert.equal(pull(pullWhen({ StringNotEquals: { 'aws:TagKeys': 'team' } }), { 'aws:TagKeys': ['owner'] }), 'allow');
    });

    it('StringEqualsIgnoreCase and StringNotEqualsIgnoreCase ignore letter case', () => {
      assert.equal(pull(pullWhen({ StringEqualsIgnoreCase: { 'aws:username': 'Alice' } }), { 'aws:username': 'ALICE' }), 'allow');
      assert.equal(pull(pullWhen({ StringNotEqualsIgnoreCase: { 'aws:username': 'Alice' } }), { 'aws:username': 'alice' }), 'none');
    });

    it('Null tests whether a key is present', () => {
      const absent = pullWhen({ Null: { 'aws:SourceVpce': 'true' } });
      assert.equal(pull(absent, {}), 'allow');
      assert.equal(pull(absent, { 'aws:SourceVpce': 'vpce-1' }), 'none');
      const present = pullWhen({ Null: { 'aws:SourceVpce': false } });
      assert.equal(pull(present, { 'aws:SourceVpce': 'vpce-1' }), 'allow');
      assert.equal(pull(present, {}), 'none');
    });

    it('Numeric and Date operators compare values, not text', () => {
      const young = pullWhen({ NumericLessThanEquals: { 'aws:MultiFactorAuthAge': 3600 } });
      assert.equal(pull(young, { 'aws:MultiFactorAuthAge': '900' }), 'allow');
      assert.equal(pull(young, { 'aws:MultiFactorAuthAge': '3600' }), 'allow');
      assert.equal(pull(young, { 'aws:MultiFactorAuthAge': '10000' }), 'none');
      assert.equal(pull(young, { 'aws:MultiFactorAuthAge': 'soon' }), 'none');
      assert.equal(pull(pullWhen({ NumericNotEquals: { 'ecr:count': '2' } }), { 'ecr:count': '2.0' }), 'none');

      const beforeCutoff = pullWhen({ DateLessThan: { 'aws:CurrentTime': '2026-01-01T00:00:00Z' } });
      assert.equal(pull(beforeCutoff, { 'aws:CurrentTime': '2025-12-31T23:59:59Z' }), 'allow');
      assert.equal(pull(beforeCutoff, { 'aws:CurrentTime': '2026-01-01T00:00:00Z' }), 'none');
      assert.equal(pull(beforeCutoff, { 'aws:CurrentTime': String(Date.parse('2025-06-01T00:00:00Z') / 1000) }), 'allow');
      assert.equal(pull(pullWhen({ DateGreaterThan: { 'aws:EpochTime': '1700000000' } }), { 'aws:EpochTime': '2024-01-01' }), 'allow');
    });

    it('IpAddress and NotIpAddress test CIDR membership for IPv4 and IPv6', () => {
      const office = pullWhen({ IpAddress: { 'aws:SourceIp': ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'] } });
      assert.equal(pull(office, { 'aws:SourceIp': '10.20.30.40' }), 'allow');
      assert.equal(pull(office, { 'aws:SourceIp': '2001:db8:1::5' }), 'allow');
      assert.equal(pull(office, { 'aws:SourceIp': '192.0.2.7' }), 'allow');
      assert.equal(pull(office, { 'aws:SourceIp': '192.0.2.8' }), 'none');
      assert.equal(pull(office, { 'aws:SourceIp': 'not-an-ip' }), 'none');
      const outside = pullWhen({ NotIpAddress: { 'aws:SourceIp': '10.0.0.0/8' } });
      assert.equal(pull(outside, { 'aws:SourceIp': '10.1.1.1' }), 'none');
      assert.equal(pull(outside, { 'aws:SourceIp': '172.16.0.1' }), 'allow');
    });

    it('Arn operators match ARN parts with wildcards', () => {
      const fromPipelines = pullWhen({ ArnLike: { 'aws:SourceArn': `arn:aws:codebuild:*:${partnerAccount}:project/*` } });
      assert.equal(pull(fromPipelines, { 'aws:SourceArn': `arn:aws:codebuild:eu-west-2:${partnerAccount}:project/build` }), 'allow');
      assert.equal(pull(fromPipelines, { 'aws:SourceArn': `arn:aws:codebuild:eu-west-2:${strangerAccount}:project/build` }), 'none');
      const notAdmin = pullWhen({ ArnNotEquals: { 'aws:PrincipalArn': `arn:aws:iam::${partnerAccount}:role/admin` } });
      assert.equal(pull(notAdmin, { 'aws:PrincipalArn': `arn:aws:iam::${partnerAccount}:role/admin` }), 'none');
      assert.equal(pull(notAdmin, { 'aws:PrincipalArn': `arn:aws:iam::${partnerAccount}:role/ci` }), 'allow');
    });
  });
});
