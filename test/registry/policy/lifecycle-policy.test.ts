import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LIFECYCLE_POLICY_TEXT_MAX_CHARS,
  LIFECYCLE_POLICY_TEXT_MIN_CHARS,
  LifecyclePolicyError,
  evaluateLifecycle,
  parseLifecyclePolicy,
  type LifecycleImage,
} from '../../../src/registry/policy/lifecycle-policy.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const NOW = Date.UTC(2025, 0, 31, 12, 0, 0);

/** A policy text as people write them (pretty-printed), from plain rule objects. */
function policyText(...rules: object[]): string {
  return JSON.stringify({ rules }, null, 2);
}

function expireRule(rulePriority: number, selection: object): object {
  return { rulePriority, description: `rule ${rulePriority}`, selection, action: { type: 'expire' } };
}

function image(digest: string, tags: string[], daysAgo: number): LifecycleImage {
  return { digest, tags, pushedAt: NOW - daysAgo * DAY_MS };
}

/** Digests the policy expires, in the order evaluateLifecycle reports them. */
function expiredBy(text: string, images: LifecycleImage[], now = NOW): string[] {
  return evaluateLifecycle(parseLifecyclePolicy(text), images, now).map((expiring) => expiring.digest);
}

/** Pads a JSON text with trailing whitespace (still the same policy) to an exact length. */
function padTo(text: string, length: number): string {
  return text + ' '.repeat(length - text.length);
}

function assertRejected(text: string, expected: string | RegExp): void {
  assert.throws(
    () => parseLifecyclePolicy(text),
    (error: unknown) => {
      assert.ok(error instanceof LifecyclePolicyError, `expected a LifecyclePolicyError, got ${String(error)}`);
      if (typeof expected === 'string') assert.equal(error.message, expected);
      else assert.match(error.message, expected);
      return true;
    },
  );
}

describe('parseLifecyclePolicy', () => {
  it('parses the ECR template example into typed rules and keeps the original text', () => {
    const text = policyText(
      expireRule(1, { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 }),
    );
    const policy = parseLifecyclePolicy(text);
    assert.equal(policy.text, text);
    assert.deepEqual(policy.rules, [
      {
        rulePriority: 1,
        description: 'rule 1',
        selection: { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 },
        action: { type: 'expire' },
      },
    ]);
  });

  it('keeps the rules in text order and leaves out fields the text leaves out', () => {
    const policy = parseLifecyclePolicy(
      policyText(
        { rulePriority: 9, selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 30 }, action: { type: 'expire' } },
        expireRule(3, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }),
        expireRule(5, { tagStatus: 'tagged', tagPrefixList: ['v', 'release'], countType: 'imageCountMoreThan', countNumber: 10 }),
      ),
    );
    assert.deepEqual(
      policy.rules.map((rule) => rule.rulePriority),
      [9, 3, 5],
    );
    assert.deepEqual(policy.rules[0], {
      rulePriority: 9,
      selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 30 },
      action: { type: 'expire' },
    });
    assert.deepEqual(policy.rules[2]?.selection.tagPrefixList, ['v', 'release']);
  });

  it('accepts the documented four-wildcard patterns and an explicit storageClass standard', () => {
    const policy = parseLifecyclePolicy(
      policyText(
        expireRule(1, {
          tagStatus: 'tagged',
          tagPatternList: ['*test*1*2*3', 'test*1*2*3*'],
          storageClass: 'standard',
          countType: 'imageCountMoreThan',
          countNumber: 3,
        }),
      ),
    );
    assert.deepEqual(policy.rules[0]?.selection.tagPatternList, ['*test*1*2*3', 'test*1*2*3*']);
    assert.equal('storageClass' in (policy.rules[0]?.selection ?? {}), false);
  });

  it('accepts a text of exactly the maximum length', () => {
    const text = policyText(expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }));
    assert.equal(parseLifecyclePolicy(padTo(text, LIFECYCLE_POLICY_TEXT_MAX_CHARS)).rules.length, 1);
  });

  describe('rejects what ECR rejects, naming the rule and field', () => {
    const anyRule = (rulePriority: number) => expireRule(rulePriority, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 5 });
    const untaggedRule = (rulePriority: number) =>
      expireRule(rulePriority, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 });
    const withSelection = (selection: object) => policyText(expireRule(1, selection));
    const base = { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 };

    const cases: { name: string; text: string; message: string | RegExp }[] = [
      {
        name: 'text shorter than 100 characters',
        text: '{"rules":[]}',
        message: 'lifecyclePolicyText must be between 100 and 30720 characters long (got 12)',
      },
      {
        // Even the most compact valid policy is longer than 100 characters, so a text of exactly
        // 100 passes the length check and is refused for what it says.
        name: 'text of exactly 100 characters that says nothing',
        text: padTo('{ "rules": [] }', LIFECYCLE_POLICY_TEXT_MIN_CHARS),
        message: 'rules must contain at least one rule',
      },
      {
        name: 'text longer than 30,720 characters',
        text: padTo(policyText(anyRule(1)), LIFECYCLE_POLICY_TEXT_MAX_CHARS + 1),
        message: 'lifecyclePolicyText must be between 100 and 30720 characters long (got 30721)',
      },
      {
        name: 'text that is not JSON',
        text: policyText(anyRule(1)).replace('"rules"', 'rules'),
        message: /^lifecyclePolicyText is not valid JSON: /,
      },
      {
        name: 'a JSON list instead of an object',
        text: JSON.stringify([anyRule(1)], null, 2),
        message: 'lifecyclePolicyText must be a JSON object',
      },
      { name: 'no rules', text: padTo('{ "rules": [] }', 120), message: 'rules must contain at least one rule' },
      { name: 'rules that are not a list', text: padTo('{ "rules": { "rulePriority": 1 } }', 120), message: 'rules must be a list of rules' },
      {
        name: 'an unknown top-level key',
        text: JSON.stringify({ version: '2012-10-17', rules: [anyRule(1)] }, null, 2),
        message: 'version is not a lifecycle policy field here (allowed: rules)',
      },
      {
        name: 'an unknown rule key',
        text: policyText({ priority: 1, selection: base, action: { type: 'expire' } }),
        message: 'rules[0].priority is not a lifecycle policy field here (allowed: rulePriority, description, selection, action)',
      },
      {
        name: 'an unknown selection key',
        text: withSelection({ ...base, tagPrefixes: ['v'] }),
        message:
          'rules[0].selection.tagPrefixes is not a lifecycle policy field here (allowed: tagStatus, tagPrefixList, tagPatternList, storageClass, countType, countUnit, countNumber)',
      },
      {
        name: 'a missing countUnit with sinceImagePushed',
        text: policyText(
          expireRule(1, { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 5 }),
          expireRule(2, { tagStatus: 'untagged', countType: 'sinceImagePushed', countNumber: 14 }),
        ),
        message: 'rules[1].selection.countUnit is required when countType is sinceImagePushed',
      },
      {
        name: 'a countUnit with imageCountMoreThan',
        text: withSelection({ ...base, countUnit: 'days' }),
        message: 'rules[0].selection.countUnit is not allowed when countType is imageCountMoreThan',
      },
      {
        name: 'a countUnit other than days',
        text: withSelection({ ...base, countType: 'sinceImagePushed', countUnit: 'hours' }),
        message: 'rules[0].selection.countUnit must be one of days (got "hours")',
      },
      {
        name: 'a null countUnit (ECR refuses nulls)',
        text: withSelection({ ...base, countType: 'sinceImagePushed', countUnit: null }),
        message: 'rules[0].selection.countUnit must be one of days (got null)',
      },
      {
        name: 'tagged without a tag list',
        text: withSelection({ ...base, tagStatus: 'tagged' }),
        message: 'rules[0].selection needs a tagPrefixList or a tagPatternList when tagStatus is tagged',
      },
      {
        name: 'tagged with both tag lists',
        text: withSelection({ ...base, tagStatus: 'tagged', tagPrefixList: ['v'], tagPatternList: ['v*'] }),
        message: 'rules[0].selection.tagPatternList cannot be combined with tagPrefixList in one rule',
      },
      {
        name: 'untagged with a tagPrefixList',
        text: withSelection({ ...base, tagPrefixList: ['v'] }),
        message: 'rules[0].selection.tagPrefixList is only allowed when tagStatus is tagged, not untagged',
      },
      {
        name: 'any with a tagPatternList',
        text: withSelection({ ...base, tagStatus: 'any', tagPatternList: ['*'] }),
        message: 'rules[0].selection.tagPatternList is only allowed when tagStatus is tagged, not any',
      },
      {
        name: 'an empty tagPrefixList',
        text: withSelection({ ...base, tagStatus: 'tagged', tagPrefixList: [] }),
        message: 'rules[0].selection.tagPrefixList must not be empty',
      },
      {
        name: 'an empty prefix',
        text: withSelection({ ...base, tagStatus: 'tagged', tagPrefixList: ['', 'v'] }),
        message: 'rules[0].selection.tagPrefixList[0] must be a non-empty string (got "")',
      },
      {
        name: 'the documentation\'s invalid pattern with six wildcards',
        text: withSelection({ ...base, tagStatus: 'tagged', tagPatternList: ['prod*', 'test*1*2*3*4*5*6'] }),
        message: 'rules[0].selection.tagPatternList[1] has 6 wildcards (*); at most 4 are allowed per pattern',
      },
      {
        name: 'a pattern with five wildcards',
        text: withSelection({ ...base, tagStatus: 'tagged', tagPatternList: ['*a*b*c*d*'] }),
        message: 'rules[0].selection.tagPatternList[0] has 5 wildcards (*); at most 4 are allowed per pattern',
      },
      {
        name: 'an unknown tagStatus',
        text: withSelection({ ...base, tagStatus: 'TAGGED' }),
        message: 'rules[0].selection.tagStatus must be one of tagged, untagged, any (got "TAGGED")',
      },
      {
        name: 'an unknown countType',
        text: withSelection({ ...base, countType: 'imageCountLessThan' }),
        message: 'rules[0].selection.countType must be one of imageCountMoreThan, sinceImagePushed (got "imageCountLessThan")',
      },
      {
        name: 'an archive count type',
        text: withSelection({ ...base, countType: 'sinceImagePulled', countUnit: 'days' }),
        message: 'rules[0].selection.countType sinceImagePulled is not supported: Berth has no archive storage class',
      },
      {
        name: 'the archive storage class',
        text: withSelection({ ...base, storageClass: 'archive' }),
        message: 'rules[0].selection.storageClass archive is not supported: Berth has no archive storage class',
      },
      {
        name: 'a countNumber of 0',
        text: withSelection({ ...base, countNumber: 0 }),
        message: 'rules[0].selection.countNumber must be a positive integer (got 0)',
      },
      {
        name: 'a fractional countNumber',
        text: withSelection({ ...base, countNumber: 1.5 }),
        message: 'rules[0].selection.countNumber must be a positive integer (got 1.5)',
      },
      {
        name: 'a countNumber written as a string',
        text: withSelection({ ...base, countNumber: '5' }),
        message: 'rules[0].selection.countNumber must be a positive integer (got "5")',
      },
      {
        name: 'a missing selection',
        text: policyText({ rulePriority: 1, description: 'no selection here', action: { type: 'expire' } }),
        message: 'rules[0].selection is required',
      },
      {
        name: 'a rulePriority of 0',
        text: policyText({ ...(anyRule(1) as Record<string, unknown>), rulePriority: 0 }),
        message: 'rules[0].rulePriority must be a positive integer (got 0)',
      },
      {
        name: 'a description that is not a string',
        text: policyText({ ...(anyRule(1) as Record<string, unknown>), description: 7 }),
        message: 'rules[0].description must be a string (got 7)',
      },
      {
        name: 'a rule that is not an object',
        text: padTo('{ "rules": [ "expire everything" ] }', 120),
        message: 'rules[0] must be a JSON object',
      },
      {
        name: 'an action other than expire',
        text: policyText({ rulePriority: 1, selection: base, action: { type: 'delete' } }),
        message: 'rules[0].action.type must be one of expire (got "delete")',
      },
      {
        name: 'the transition action',
        text: policyText({ rulePriority: 1, selection: base, action: { type: 'transition', targetStorageClass: 'archive' } }),
        message: 'rules[0].action.type transition is not supported: Berth has no archive storage class',
      },
      {
        name: 'an unknown action key',
        text: policyText({ rulePriority: 1, selection: base, action: { type: 'expire', dryRun: true } }),
        message: 'rules[0].action.dryRun is not a lifecycle policy field here (allowed: type)',
      },
      {
        name: 'two rules with one rulePriority',
        text: policyText(untaggedRule(1), expireRule(1, { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 5 })),
        message: 'rules[1].rulePriority 1 is already used by rules[0]; every rule needs a unique rulePriority',
      },
      {
        name: 'an any rule that is not evaluated last',
        text: policyText(anyRule(1), untaggedRule(2)),
        message: 'rules[0].rulePriority must be the highest in the policy because tagStatus is any, but it is 1 and rules[1] has 2',
      },
      {
        name: 'two any rules',
        text: policyText(anyRule(7), anyRule(8)),
        message: 'rules[0].rulePriority must be the highest in the policy because tagStatus is any, but it is 7 and rules[1] has 8',
      },
      {
        name: 'two rules selecting untagged images',
        text: policyText(untaggedRule(1), expireRule(2, base)),
        message: 'rules[1].selection.tagStatus untagged is already selected by rules[0]; only one rule may select untagged images',
      },
      {
        name: 'two rules with the same set of tag prefixes',
        text: policyText(
          expireRule(1, { tagStatus: 'tagged', tagPrefixList: ['prod', 'v'], countType: 'imageCountMoreThan', countNumber: 5 }),
          expireRule(2, { tagStatus: 'tagged', tagPrefixList: ['v', 'prod'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 90 }),
        ),
        message: 'rules[1].selection.tagPrefixList repeats the set of rules[0]; every rule needs a unique set of tags',
      },
    ];

    for (const { name, text, message } of cases) {
      it(name, () => assertRejected(text, message));
    }

    it('reports the path of the failure on the error', () => {
      try {
        parseLifecyclePolicy(withSelection({ ...base, countType: 'sinceImagePushed' }));
        assert.fail('the policy should have been rejected');
      } catch (error) {
        assert.ok(error instanceof LifecyclePolicyError);
        assert.equal(error.path, 'rules[0].selection.countUnit');
        assert.equal(error.name, 'LifecyclePolicyError');
      }
    });
  });
});

describe('evaluateLifecycle: the ECR documentation examples', () => {
  it('expires untagged images older than 14 days ("Filtering on image age")', () => {
    const text = policyText(expireRule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 }));
    const images = [image('old', [], 15), image('limit', [], 14), image('young', [], 13), image('tagged-old', ['v1'], 30)];
    assert.deepEqual(expiredBy(text, images), ['old']);
  });

  it('expires prod* images older than 14 days with a tagPatternList', () => {
    const text = policyText(
      expireRule(1, { tagStatus: 'tagged', tagPatternList: ['prod*'], countType: 'sinceImagePushed', countUnit: 'days', countNumber: 14 }),
    );
    const images = [
      image('prod-old', ['prod-1'], 20),
      image('production-old', ['production'], 15),
      image('prod-young', ['prod2'], 10),
      image('dev-old', ['dev-1'], 20),
      image('untagged-old', [], 30),
    ];
    assert.deepEqual(expiredBy(text, images), ['prod-old', 'production-old']);
  });

  it('keeps only one untagged image ("Filtering on image count")', () => {
    const text = policyText(expireRule(1, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }));
    const images = [image('u1', [], 3), image('u2', [], 2), image('u3', [], 1), image('t1', ['latest'], 5)];
    assert.deepEqual(expiredBy(text, images), ['u1', 'u2']);
  });

  describe('"Filtering on multiple rules"', () => {
    const repository = [image('A', ['beta-1', 'prod-1'], 10), image('B', ['beta-2', 'prod-2'], 9), image('C', ['beta-3'], 8)];
    const keepOne = (rulePriority: number, tag: string, list: 'tagPrefixList' | 'tagPatternList') =>
      expireRule(rulePriority, {
        tagStatus: 'tagged',
        [list]: [list === 'tagPatternList' ? `${tag}*` : tag],
        countType: 'imageCountMoreThan',
        countNumber: 1,
      });

    for (const list of ['tagPrefixList', 'tagPatternList'] as const) {
      it(`example A with ${list}: prod first, so only image A expires`, () => {
        const text = policyText(keepOne(1, 'prod', list), keepOne(2, 'beta', list));
        const result = evaluateLifecycle(parseLifecyclePolicy(text), repository, NOW);
        assert.deepEqual(
          result.map(({ digest, rulePriority }) => ({ digest, rulePriority })),
          [{ digest: 'A', rulePriority: 1 }],
        );
      });

      it(`example B with ${list}: beta first, so images A and B expire`, () => {
        const text = policyText(keepOne(1, 'beta', list), keepOne(2, 'prod', list));
        assert.deepEqual(expiredBy(text, repository), ['A', 'B']);
      });
    }
  });

  describe('"Filtering on multiple tags in a single rule"', () => {
    for (const [list, entries] of [
      ['tagPrefixList', ['alpha', 'beta']],
      ['tagPatternList', ['alpha*', 'beta*']],
    ] as const) {
      it(`example A with ${list}: only images with both tags are selected`, () => {
        const text = policyText(
          expireRule(1, { tagStatus: 'tagged', [list]: entries, countType: 'sinceImagePushed', countNumber: 5, countUnit: 'days' }),
        );
        const images = [
          image('A', ['alpha-1'], 12),
          image('B', ['beta-1'], 11),
          image('C', ['alpha-2', 'beta-2'], 10),
          image('D', ['alpha-3'], 4),
          image('E', ['beta-3'], 3),
          image('F', ['alpha-4', 'beta-4'], 2),
        ];
        assert.deepEqual(expiredBy(text, images), ['C']);
      });

      it(`example B with ${list}: extra tags do not stop a match`, () => {
        const text = policyText(expireRule(1, { tagStatus: 'tagged', [list]: entries, countType: 'imageCountMoreThan', countNumber: 1 }));
        const images = [
          image('A', ['alpha-1', 'beta-1', 'gamma-1'], 10),
          image('B', ['alpha-2', 'beta-2'], 9),
          image('C', ['alpha-3', 'beta-3', 'gamma-2'], 8),
        ];
        assert.deepEqual(expiredBy(text, images), ['A', 'B']);
      });
    }
  });

  describe('"Filtering on all images"', () => {
    it('example A: an any rule keeps only the newest image, tagged or not', () => {
      const text = policyText(expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }));
      const images = [image('A', ['alpha-1'], 4), image('B', ['beta-1'], 3), image('C', [], 2), image('D', ['alpha-2'], 1)];
      assert.deepEqual(expiredBy(text, images), ['A', 'B', 'C']);
    });

    it('example B: the any rule counts images claimed by earlier rules but expires only D', () => {
      const text = policyText(
        expireRule(1, { tagStatus: 'tagged', tagPatternList: ['alpha*'], countType: 'imageCountMoreThan', countNumber: 1 }),
        expireRule(2, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }),
        expireRule(3, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }),
      );
      // D and E are both "1 day ago" in the documentation; E is the newer (the any rule keeps it).
      const images = [
        image('A', ['alpha-1', 'beta-1'], 4),
        image('B', [], 3),
        image('C', ['alpha-2'], 2),
        image('D', ['git hash'], 1),
        { ...image('E', [], 1), pushedAt: NOW - DAY_MS + 60_000 },
      ];
      const result = evaluateLifecycle(parseLifecyclePolicy(text), images, NOW);
      assert.deepEqual(
        result.map(({ digest, rulePriority }) => ({ digest, rulePriority })),
        [
          { digest: 'A', rulePriority: 1 },
          { digest: 'B', rulePriority: 2 },
          { digest: 'D', rulePriority: 3 },
        ],
      );
    });
  });
});

describe('evaluateLifecycle: priorities and claiming', () => {
  it('an image matched by a higher-priority rule that keeps it is never expired by a lower one', () => {
    const text = policyText(
      expireRule(1, { tagStatus: 'tagged', tagPrefixList: ['release-'], countType: 'imageCountMoreThan', countNumber: 100 }),
      expireRule(2, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 30 }),
    );
    const images = [image('release', ['release-1.0', 'sha-1'], 90), image('feature', ['sha-2'], 90), image('fresh', ['sha-3'], 1)];
    assert.deepEqual(expiredBy(text, images), ['feature']);
  });

  it('a lower-priority count rule still counts the images higher rules claimed', () => {
    // X is claimed by the prod rule; the beta rule keeps its newest image (X) and so expires Y.
    const text = policyText(
      expireRule(1, { tagStatus: 'tagged', tagPrefixList: ['prod'], countType: 'imageCountMoreThan', countNumber: 1 }),
      expireRule(2, { tagStatus: 'tagged', tagPrefixList: ['beta'], countType: 'imageCountMoreThan', countNumber: 1 }),
    );
    const images = [image('X', ['beta-1', 'prod-1'], 1), image('Y', ['beta-2'], 2)];
    assert.deepEqual(expiredBy(text, images), ['Y']);
  });

  it('expires an image at most once, for the highest-priority rule that wants it', () => {
    const text = policyText(
      expireRule(1, { tagStatus: 'untagged', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }),
      expireRule(2, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }),
    );
    const images = [image('u-old', [], 10), image('t-old', ['a'], 9), image('t-new', ['b'], 0)];
    const result = evaluateLifecycle(parseLifecyclePolicy(text), images, NOW);
    assert.deepEqual(
      result.map(({ digest, rulePriority }) => ({ digest, rulePriority })),
      [
        { digest: 'u-old', rulePriority: 1 },
        { digest: 't-old', rulePriority: 2 },
      ],
    );
  });

  it('applies rules by rulePriority, not by their order in the text', () => {
    const text = policyText(
      expireRule(20, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 1 }),
      expireRule(5, { tagStatus: 'tagged', tagPrefixList: ['v'], countType: 'imageCountMoreThan', countNumber: 5 }),
    );
    const images = [image('v1', ['v1'], 5), image('v2', ['v2'], 4), image('x', ['x'], 3), image('y', ['y'], 2)];
    assert.deepEqual(expiredBy(text, images), ['x']);
  });

  it('a tagged rule never selects untagged images, and an untagged rule never selects tagged ones', () => {
    const text = policyText(
      expireRule(1, { tagStatus: 'tagged', tagPatternList: ['*'], countType: 'imageCountMoreThan', countNumber: 1 }),
      expireRule(2, { tagStatus: 'untagged', countType: 'imageCountMoreThan', countNumber: 1 }),
    );
    const images = [image('t1', ['a'], 4), image('u1', [], 3), image('t2', ['b'], 2), image('u2', [], 1)];
    assert.deepEqual(expiredBy(text, images), ['t1', 'u1']);
  });
});

describe('evaluateLifecycle: tag matching', () => {
  const keepNone = (selection: object) =>
    policyText(expireRule(1, { tagStatus: 'tagged', ...selection, countType: 'sinceImagePushed', countUnit: 'days', countNumber: 1 }));

  it('with several prefixes an image needs a tag for each, and one tag may satisfy several', () => {
    const text = keepNone({ tagPrefixList: ['prod', 'prod-eu'] });
    const images = [image('one-tag', ['prod-eu-1'], 5), image('prod-only', ['prod-us-1'], 5), image('two-tags', ['prod-1', 'prod-eu'], 5)];
    assert.deepEqual(expiredBy(text, images), ['one-tag', 'two-tags']);
  });

  it('a prefix matches the start of a tag, while a pattern without wildcards matches the whole tag', () => {
    const images = [image('exact', ['latest'], 5), image('longer', ['latest-2'], 5), image('other', ['stable'], 5)];
    assert.deepEqual(expiredBy(keepNone({ tagPrefixList: ['latest'] }), images), ['exact', 'longer']);
    assert.deepEqual(expiredBy(keepNone({ tagPatternList: ['latest'] }), images), ['exact']);
  });

  it('a wildcard matches any run of characters, including none, anywhere in the pattern', () => {
    const tags = ['v1.2-rc1', 'v-rc', 'xv1-rc1', 'v1', 'v1-rc', 'v1-rc-rc2'];
    const images = tags.map((tag, index) => image(tag, [tag], 10 - index));
    assert.deepEqual(expiredBy(keepNone({ tagPatternList: ['v*-rc*'] }), images), ['v1.2-rc1', 'v-rc', 'v1-rc', 'v1-rc-rc2']);
    assert.deepEqual(expiredBy(keepNone({ tagPatternList: ['*rc*2'] }), images), ['v1-rc-rc2']);
    assert.deepEqual(expiredBy(keepNone({ tagPatternList: ['*'] }), images), tags);
  });

  it('treats regular-expression characters in patterns literally', () => {
    const images = [image('dot', ['v1.0'], 5), image('no-dot', ['v1x0'], 5)];
    assert.deepEqual(expiredBy(keepNone({ tagPatternList: ['v1.*'] }), images), ['dot']);
  });

  it('with several patterns an image needs a matching tag for each', () => {
    const images = [image('both', ['sha-1', 'main'], 5), image('sha', ['sha-2'], 5), image('main', ['main'], 5)];
    assert.deepEqual(expiredBy(keepNone({ tagPatternList: ['sha-*', 'main'] }), images), ['both']);
  });
});

describe('evaluateLifecycle: boundaries', () => {
  const keepThree = policyText(expireRule(1, { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: 3 }));
  const olderThanSeven = policyText(expireRule(1, { tagStatus: 'any', countType: 'sinceImagePushed', countUnit: 'days', countNumber: 7 }));

  it('keeps exactly countNumber images and expires the oldest beyond them', () => {
    const three = [image('a', ['a'], 3), image('b', ['b'], 2), image('c', [], 1)];
    assert.deepEqual(expiredBy(keepThree, three), []);
    assert.deepEqual(expiredBy(keepThree, [image('z', ['z'], 9), ...three]), ['z']);
    assert.deepEqual(expiredBy(keepThree, [...three, image('y', ['y'], 8), image('z', ['z'], 9)]), ['z', 'y']);
  });

  it('keeps an image exactly countNumber days old and expires one a millisecond older', () => {
    const images = [image('at-limit', ['a'], 7), { ...image('past-limit', ['b'], 7), pushedAt: NOW - 7 * DAY_MS - 1 }, image('young', ['c'], 6)];
    assert.deepEqual(expiredBy(olderThanSeven, images), ['past-limit']);
  });

  it('never expires an image pushed after now', () => {
    assert.deepEqual(expiredBy(olderThanSeven, [image('future', ['f'], -30)]), []);
  });

  it('breaks push-time ties by digest, whatever the order of the input', () => {
    const images = [image('sha256:bbb', ['x'], 1), image('sha256:aaa', ['y'], 1), image('sha256:ccc', ['z'], 1), image('sha256:ddd', [], 1)];
    const forward = expiredBy(keepThree, images);
    assert.deepEqual(forward, ['sha256:aaa']);
    assert.deepEqual(expiredBy(keepThree, [...images].reverse()), forward);
  });

  it('returns nothing for an empty repository', () => {
    assert.deepEqual(evaluateLifecycle(parseLifecyclePolicy(keepThree), [], NOW), []);
  });

  it('counts a repeated digest once', () => {
    const twice = image('same', ['a'], 5);
    const images = [twice, twice, image('b', ['b'], 2), image('c', ['c'], 1)];
    assert.deepEqual(expiredBy(keepThree, images), []);
  });

  it('returns the given image objects with their extra fields and the expiring rule', () => {
    const images = [{ ...image('old', ['a'], 10), size: 1234 }, { ...image('new', ['b'], 1), size: 99 }];
    const result = evaluateLifecycle(parseLifecyclePolicy(olderThanSeven), images, NOW);
    assert.deepEqual(result, [{ digest: 'old', tags: ['a'], pushedAt: NOW - 10 * DAY_MS, size: 1234, rulePriority: 1 }]);
  });
});
