/**
 * Amazon ECR's lifecycle policy language: its types, and the parser that checks a policy text the
 * way ECR does before storing it (PutLifecyclePolicy, StartLifecyclePolicyPreview). Sources: the ECR
 * user guide pages "Lifecycle policy properties", "Lifecycle policy evaluation rules" and
 * "Examples of lifecycle policies", and the PutLifecyclePolicy API reference (text length).
 *
 * Berth stores every image in one storage class, so ECR's archive features (`storageClass:
 * "archive"`, `sinceImagePulled`, `sinceImageTransitioned`, the `transition` action) are refused
 * with a message saying so rather than reported as unknown fields.
 */

export type TagStatus = 'tagged' | 'untagged' | 'any';
export type CountType = 'imageCountMoreThan' | 'sinceImagePushed';

export interface LifecycleSelection {
  tagStatus: TagStatus;
  /** Only with tagStatus `tagged`: an image needs, for every prefix, a tag that starts with it. */
  tagPrefixList?: string[];
  /** Only with tagStatus `tagged`: an image needs, for every pattern, a tag that matches it (`*` = any run of characters). */
  tagPatternList?: string[];
  countType: CountType;
  /** Present exactly when countType is `sinceImagePushed`. */
  countUnit?: 'days';
  countNumber: number;
}

export interface LifecycleRule {
  rulePriority: number;
  description?: string;
  selection: LifecycleSelection;
  action: { type: 'expire' };
}

export interface LifecyclePolicy {
  /** In the order the text lists them; evaluation orders them by rulePriority. */
  rules: LifecycleRule[];
  /** The text exactly as given, so GetLifecyclePolicy returns what was put. */
  text: string;
}

/** A policy ECR would refuse. `path` names the offending field, as in `rules[1].selection.countUnit`. */
export class LifecyclePolicyError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path} ${problem}`);
    this.name = 'LifecyclePolicyError';
  }
}

/** PutLifecyclePolicy's length constraints on lifecyclePolicyText. */
export const LIFECYCLE_POLICY_TEXT_MIN_CHARS = 100;
export const LIFECYCLE_POLICY_TEXT_MAX_CHARS = 30_720;
/** "There is a maximum limit of four wildcards (*) per string" in a tagPatternList. */
export const MAX_WILDCARDS_PER_TAG_PATTERN = 4;

const POLICY_KEYS = ['rules'] as const;
const RULE_KEYS = ['rulePriority', 'description', 'selection', 'action'] as const;
const SELECTION_KEYS = ['tagStatus', 'tagPrefixList', 'tagPatternList', 'storageClass', 'countType', 'countUnit', 'countNumber'] as const;
const ACTION_KEYS = ['type'] as const;
const TAG_STATUSES: readonly TagStatus[] = ['tagged', 'untagged', 'any'];
const COUNT_TYPES: readonly CountType[] = ['imageCountMoreThan', 'sinceImagePushed'];
const ARCHIVE_COUNT_TYPES = ['sinceImagePulled', 'sinceImageTransitioned'];
const NO_ARCHIVE = 'Berth has no archive storage class';

type JsonObject = Record<string, unknown>;

/** Parses and validates a lifecycle policy text; throws LifecyclePolicyError naming the first problem found. */
export function parseLifecyclePolicy(text: string): LifecyclePolicy {
  checkTextLength(text);
  const root = objectAt(parseJson(text), 'lifecyclePolicyText');
  allowOnlyKeys(root, '', POLICY_KEYS);
  if (root.rules === undefined) throw new LifecyclePolicyError('rules', 'is required');
  if (!Array.isArray(root.rules)) throw new LifecyclePolicyError('rules', 'must be a list of rules');
  if (root.rules.length === 0) throw new LifecyclePolicyError('rules', 'must contain at least one rule');
  const rules = root.rules.map((rule, index) => parseRule(rule, `rules[${index}]`));
  checkRulesTogether(rules);
  return { rules, text };
}

function checkTextLength(text: string): void {
  if (typeof text !== 'string') throw new LifecyclePolicyError('lifecyclePolicyText', 'must be a string');
  if (text.length < LIFECYCLE_POLICY_TEXT_MIN_CHARS || text.length > LIFECYCLE_POLICY_TEXT_MAX_CHARS) {
    throw new LifecyclePolicyError(
      'lifecyclePolicyText',
      `must be between ${LIFECYCLE_POLICY_TEXT_MIN_CHARS} and ${LIFECYCLE_POLICY_TEXT_MAX_CHARS} characters long (got ${text.length})`,
    );
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LifecyclePolicyError('lifecyclePolicyText', `is not valid JSON: ${(error as Error).message}`);
  }
}

function parseRule(value: unknown, path: string): LifecycleRule {
  const rule = objectAt(value, path);
  allowOnlyKeys(rule, path, RULE_KEYS);
  const rulePriority = positiveInteger(rule.rulePriority, `${path}.rulePriority`);
  const description = optionalString(rule.description, `${path}.description`);
  const selection = parseSelection(rule.selection, `${path}.selection`);
  const action = parseAction(rule.action, `${path}.action`);
  return description === undefined ? { rulePriority, selection, action } : { rulePriority, description, selection, action };
}

function parseSelection(value: unknown, path: string): LifecycleSelection {
  const selection = objectAt(required(value, path), path);
  allowOnlyKeys(selection, path, SELECTION_KEYS);
  const tagStatus = oneOf(selection.tagStatus, `${path}.tagStatus`, TAG_STATUSES);
  const tagFilter = parseTagFilter(selection, path, tagStatus);
  checkStorageClass(selection.storageClass, `${path}.storageClass`);
  const countType = parseCountType(selection.countType, `${path}.countType`);
  const countUnit = parseCountUnit(selection.countUnit, `${path}.countUnit`, countType);
  const countNumber = positiveInteger(selection.countNumber, `${path}.countNumber`);
  return { tagStatus, ...tagFilter, countType, ...(countUnit === undefined ? {} : { countUnit }), countNumber };
}

/** tagged needs exactly one of the two lists; untagged and any take neither. */
function parseTagFilter(
  selection: JsonObject,
  path: string,
  tagStatus: TagStatus,
): Pick<LifecycleSelection, 'tagPrefixList' | 'tagPatternList'> {
  const hasPrefixes = selection.tagPrefixList !== undefined;
  const hasPatterns = selection.tagPatternList !== undefined;
  if (tagStatus !== 'tagged') {
    if (hasPrefixes || hasPatterns) {
      const field = hasPrefixes ? 'tagPrefixList' : 'tagPatternList';
      throw new LifecyclePolicyError(`${path}.${field}`, `is only allowed when tagStatus is tagged, not ${tagStatus}`);
    }
    return {};
  }
  if (hasPrefixes && hasPatterns) {
    throw new LifecyclePolicyError(`${path}.tagPatternList`, 'cannot be combined with tagPrefixList in one rule');
  }
  if (!hasPrefixes && !hasPatterns) {
    throw new LifecyclePolicyError(path, 'needs a tagPrefixList or a tagPatternList when tagStatus is tagged');
  }
  if (hasPrefixes) return { tagPrefixList: nonEmptyStrings(selection.tagPrefixList, `${path}.tagPrefixList`) };
  const patterns = nonEmptyStrings(selection.tagPatternList, `${path}.tagPatternList`);
  patterns.forEach((pattern, index) => {
    const wildcards = pattern.split('*').length - 1;
    if (wildcards > MAX_WILDCARDS_PER_TAG_PATTERN) {
      throw new LifecyclePolicyError(
        `${path}.tagPatternList[${index}]`,
        `has ${wildcards} wildcards (*); at most ${MAX_WILDCARDS_PER_TAG_PATTERN} are allowed per pattern`,
      );
    }
  });
  return { tagPatternList: patterns };
}

/** ECR's default class, `standard`, is the only one Berth has; accepting it keeps ECR policies that spell it out working. */
function checkStorageClass(value: unknown, path: string): void {
  if (value === undefined) return;
  if (value === 'archive') throw new LifecyclePolicyError(path, `archive is not supported: ${NO_ARCHIVE}`);
  oneOf(value, path, ['standard']);
}

function parseCountType(value: unknown, path: string): CountType {
  if (typeof value === 'string' && ARCHIVE_COUNT_TYPES.includes(value)) {
    throw new LifecyclePolicyError(path, `${value} is not supported: ${NO_ARCHIVE}`);
  }
  return oneOf(value, path, COUNT_TYPES);
}

function parseCountUnit(value: unknown, path: string, countType: CountType): 'days' | undefined {
  if (countType === 'imageCountMoreThan') {
    if (value !== undefined) throw new LifecyclePolicyError(path, 'is not allowed when countType is imageCountMoreThan');
    return undefined;
  }
  if (value === undefined) throw new LifecyclePolicyError(path, 'is required when countType is sinceImagePushed');
  return oneOf(value, path, ['days'] as const);
}

function parseAction(value: unknown, path: string): { type: 'expire' } {
  const action = objectAt(required(value, path), path);
  if (action.type === 'transition') throw new LifecyclePolicyError(`${path}.type`, `transition is not supported: ${NO_ARCHIVE}`);
  allowOnlyKeys(action, path, ACTION_KEYS);
  return { type: oneOf(action.type, `${path}.type`, ['expire'] as const) };
}

/** The documented constraints that involve more than one rule. */
function checkRulesTogether(rules: readonly LifecycleRule[]): void {
  checkUniquePriorities(rules);
  checkAnyRuleIsLast(rules);
  checkSingleUntaggedRule(rules);
  checkUniqueTagSets(rules);
}

function checkUniquePriorities(rules: readonly LifecycleRule[]): void {
  const firstWithPriority = new Map<number, number>();
  rules.forEach((rule, index) => {
    const earlier = firstWithPriority.get(rule.rulePriority);
    if (earlier !== undefined) {
      throw new LifecyclePolicyError(
        `rules[${index}].rulePriority`,
        `${rule.rulePriority} is already used by rules[${earlier}]; every rule needs a unique rulePriority`,
      );
    }
    firstWithPriority.set(rule.rulePriority, index);
  });
}

/** "A rule with a tagStatus value of any must have the highest value for rulePriority", which also allows only one. */
function checkAnyRuleIsLast(rules: readonly LifecycleRule[]): void {
  rules.forEach((rule, index) => {
    if (rule.selection.tagStatus !== 'any') return;
    const later = rules.findIndex((other) => other.rulePriority > rule.rulePriority);
    const laterRule = rules[later];
    if (laterRule !== undefined) {
      throw new LifecyclePolicyError(
        `rules[${index}].rulePriority`,
        `must be the highest in the policy because tagStatus is any, but it is ${rule.rulePriority} and rules[${later}] has ${laterRule.rulePriority}`,
      );
    }
  });
}

/** "Only one rule is allowed to select untagged images" (a rule with tagStatus any is not counted: ECR's own examples pair the two). */
function checkSingleUntaggedRule(rules: readonly LifecycleRule[]): void {
  const first = rules.findIndex((rule) => rule.selection.tagStatus === 'untagged');
  const second = rules.findIndex((rule, index) => index > first && rule.selection.tagStatus === 'untagged');
  if (first >= 0 && second >= 0) {
    throw new LifecyclePolicyError(
      `rules[${second}].selection.tagStatus`,
      `untagged is already selected by rules[${first}]; only one rule may select untagged images`,
    );
  }
}

/** "The set of rules must contain a unique set of tag prefixes"; patterns get the same treatment. */
function checkUniqueTagSets(rules: readonly LifecycleRule[]): void {
  const firstWithSet = new Map<string, number>();
  rules.forEach((rule, index) => {
    const { tagPrefixList, tagPatternList } = rule.selection;
    const field = tagPrefixList ? 'tagPrefixList' : 'tagPatternList';
    const list = tagPrefixList ?? tagPatternList;
    if (list === undefined) return;
    const key = `${field}:${JSON.stringify([...new Set(list)].sort())}`;
    const earlier = firstWithSet.get(key);
    if (earlier !== undefined) {
      throw new LifecyclePolicyError(
        `rules[${index}].selection.${field}`,
        `repeats the set of rules[${earlier}]; every rule needs a unique set of tags`,
      );
    }
    firstWithSet.set(key, index);
  });
}

function objectAt(value: unknown, path: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LifecyclePolicyError(path, 'must be a JSON object');
  }
  return value as JsonObject;
}

function allowOnlyKeys(object: JsonObject, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      throw new LifecyclePolicyError(path ? `${path}.${key}` : key, `is not a lifecycle policy field here (allowed: ${allowed.join(', ')})`);
    }
  }
}

function required(value: unknown, path: string): unknown {
  if (value === undefined) throw new LifecyclePolicyError(path, 'is required');
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, options: readonly T[]): T {
  required(value, path);
  if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
    throw new LifecyclePolicyError(path, `must be one of ${options.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

function positiveInteger(value: unknown, path: string): number {
  required(value, path);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new LifecyclePolicyError(path, `must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

function optionalString(value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new LifecyclePolicyError(path, `must be a string (got ${JSON.stringify(value)})`);
  return value;
}

function nonEmptyStrings(value: unknown, path: string): string[] {
  if (!Array.isArray(value)) throw new LifecyclePolicyError(path, 'must be a list of strings');
  if (value.length === 0) throw new LifecyclePolicyError(path, 'must not be empty');
  value.forEach((item, index) => {
    if (typeof item !== 'string' || item.length === 0) {
      throw new LifecyclePolicyError(`${path}[${index}]`, `must be a non-empty string (got ${JSON.stringify(item)})`);
    }
  });
  return [...(value as string[])];
}
