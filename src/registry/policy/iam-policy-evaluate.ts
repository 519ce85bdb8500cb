import { BlockList, isIP } from 'node:net';
import type { Condition, PolicyDocument, PolicyStatement, PrincipalSet } from './iam-policy-parse.ts';

/** Who is asking: every identifier the caller counts as, e.g. its account id and its user ARN. */
export interface PolicyCaller {
  /** Account ids (`123456789012`) and IAM ARNs (`arn:aws:iam::123456789012:user/alice`); empty for anonymous callers. */
  aws: string[];
  /** A service principal such as `omics.amazonaws.com` when a service calls on its own behalf. */
  service?: string;
}

/** One authorisation question: may `caller` perform `action` on `resource`, given `context`? */
export interface PolicyRequest {
  caller: PolicyCaller;
  /** An IAM action such as `ecr:BatchGetImage`. */
  action: string;
  /** The ARN acted on, e.g. `arn:aws:ecr:eu-west-2:123456789012:repository/tools/x`. */
  resource: string;
  /** Condition keys (`aws:SourceIp`, `aws:PrincipalOrgID`, …) and their values; key names compare case-insensitively. */
  context?: Record<string, string | string[]>;
}

/** `deny` when a Deny statement applies, else `allow` when an Allow statement applies, else `none` (the policy says nothing). */
export type PolicyDecision = 'allow' | 'deny' | 'none';

/**
 * Evaluates one policy for one request, the way IAM evaluates a resource-based policy: a statement
 * applies when its principal, action, resource and every condition match; an applying Deny wins over
 * any Allow. A statement without Resource/NotResource (allowed in repository policies) applies to
 * every request, because the caller only asks a repository's policy about that repository.
 */
export function evaluatePolicy(policy: PolicyDocument, request: PolicyRequest): PolicyDecision {
  const caller = identify(request.caller);
  const context = lowerCaseKeys(request.context ?? {});
  let allowed = false;
  for (const statement of policy.statements) {
    if (!statementApplies(statement, caller, request, context)) continue;
    if (statement.effect === 'Deny') return 'deny';
    allowed = true;
  }
  return allowed ? 'allow' : 'none';
}

function statementApplies(statement: PolicyStatement, caller: CallerIdentity, request: PolicyRequest, context: Context): boolean {
  return (
    principalApplies(statement, caller) &&
    matchesInclusion(statement.actions, statement.notActions, (pattern) => actionMatches(pattern, request.action)) &&
    matchesInclusion(statement.resources, statement.notResources, (pattern) => arnMatches(pattern, request.resource)) &&
    (statement.conditions ?? []).every((condition) => conditionHolds(condition, context))
  );
}

/** IAM's X / NotX pairs: X applies when a pattern matches, NotX when none does, and neither means "everything". */
function matchesInclusion(included: string[] | undefined, excluded: string[] | undefined, matches: (pattern: string) => boolean): boolean {
  if (included !== undefined) return included.some(matches);
  if (excluded !== undefined) return !excluded.some(matches);
  return true;
}

// ---- principals ----------------------------------------------------------------------------

/** The caller's identifiers, normalised: the accounts it belongs to and its exact (non-root) ARNs. */
interface CallerIdentity {
  accounts: Set<string>;
  arns: Set<string>;
  service: string | undefined;
}

const accountIdPattern = /^\d{12}$/;
const rootArnPattern = /^arn:aws:iam::(\d{12}):root$/;

function identify(caller: PolicyCaller): CallerIdentity {
  const accounts = new Set<string>();
  const arns = new Set<string>();
  for (const id of caller.aws) {
    const account = accountOf(id);
    if (account !== undefined) accounts.add(account);
    if (id.startsWith('arn:') && !rootArnPattern.test(id)) arns.add(id);
  }
  return { accounts, arns, service: caller.service?.toLowerCase() };
}

/** The account an identifier belongs to: a bare account id, or the account component of any ARN. */
function accountOf(id: string): string | undefined {
  if (accountIdPattern.test(id)) return id;
  const account = splitArn(id)?.[4];
  return account !== undefined && accountIdPattern.test(account) ? account : undefined;
}

function principalApplies(statement: PolicyStatement, caller: CallerIdentity): boolean {
  if (statement.principals !== undefined) return principalMatches(statement.principals, caller);
  if (statement.notPrincipals !== undefined) return !principalMatches(statement.notPrincipals, caller);
  return true;
}

function principalMatches(principals: PrincipalSet | '*', caller: CallerIdentity): boolean {
  if (principals === '*') return true;
  return (
    principals.aws.some((principal) => awsPrincipalMatches(principal, caller)) ||
    principals.service.some((service) => service.toLowerCase() === caller.service)
  );
}

/**
 * An account principal (`123456789012` or its `:root` ARN) stands for the whole account, so every
 * identity of that account matches it; a user or role ARN matches only that exact identity.
 */
function awsPrincipalMatches(principal: string, caller: CallerIdentity): boolean {
  if (principal === '*') return true;
  const account = accountIdPattern.test(principal) ? principal : rootArnPattern.exec(principal)?.[1];
  return account !== undefined ? caller.accounts.has(account) : caller.arns.has(principal);
}

// ---- actions and resources -----------------------------------------------------------------

/** Action names compare case-insensitively (`ECR:batchgetimage` is `ecr:BatchGetImage`). */
function actionMatches(pattern: string, action: string): boolean {
  return globMatches(pattern.toLowerCase(), action.toLowerCase());
}

/**
 * IAM's ARN matching: `*` alone matches anything; otherwise each of the six colon-separated parts is
 * matched on its own, so a wildcard never spans a colon except inside the final resource part.
 * Case-sensitive, like IAM.
 */
export function arnMatches(pattern: string, arn: string): boolean {
  if (pattern === '*') return true;
  const patternParts = splitArn(pattern);
  const arnParts = splitArn(arn);
  if (patternParts === undefined || arnParts === undefined) return globMatches(pattern, arn);
  return patternParts.every((part, index) => globMatches(part, arnParts[index] ?? ''));
}

/** `arn:partition:service:region:account:resource`, the resource keeping any further colons; undefined if not ARN-shaped. */
function splitArn(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn') return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

/**
 * Whether `text` matches `pattern`, where `*` is any run of characters and `?` any one character.
 * Backtracks only to the last star (at worst pattern × text steps), so a hostile pattern cannot blow up
 * the way a backtracking regular expression can.
 */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let lastStar = -1;
  let textAtStar = 0;
  while (t < text.length) {
    const c = pattern[p];
    if (c === '*') {
      lastStar = p++;
      textAtStar = t;
    } else if (c !== undefined && (c === '?' || c === text[t])) {
      p++;
      t++;
    } else if (lastStar >= 0) {
      p = lastStar + 1;
      t = ++textAtStar;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

// ---- conditions ----------------------------------------------------------------------------

/** Request context with lower-cased keys, every value as a list (condition key names are case-insensitive). */
type Context = Map<string, string[]>;

function lowerCaseKeys(context: Record<string, string | string[]>): Context {
  return new Map(Object.entries(context).map(([key, value]) => [key.toLowerCase(), typeof value === 'string' ? [value] : value]));
}

/** How one family of condition operators compares a request value with a policy value, and what a valid policy value is. */
interface ConditionOperator {
  /** `Not` operators hold when the request value matches none of the policy values. */
  negated: boolean;
  compare: (requestValue: string, policyValue: string) => boolean;
  /** Why a policy value is unusable with this operator, or undefined when it is fine. */
  problemWith?: (policyValue: string) => string | undefined;
}

const isBooleanText = (value: string) => (/^(true|false)$/i.test(value) ? undefined : 'is not "true" or "false"');
const isNumberText = (value: string) => (Number.isFinite(toNumber(value)) ? undefined : 'is not a number');
const isDateText = (value: string) => (Number.isFinite(toEpochMs(value)) ? undefined : 'is not a date (ISO 8601 or epoch seconds)');
const isIpRangeText = (value: string) => (parseCidr(value) !== undefined ? undefined : 'is not an IP address or CIDR block');

const stringEquals = (r: string, p: string) => r === p;
const stringEqualsIgnoreCase = (r: string, p: string) => r.toLowerCase() === p.toLowerCase();
const numeric = (test: (r: number, p: number) => boolean) => (r: string, p: string) => test(toNumber(r), toNumber(p));
const date = (test: (r: number, p: number) => boolean) => (r: string, p: string) => test(toEpochMs(r), toEpochMs(p));

const positive = (compare: ConditionOperator['compare'], problemWith?: ConditionOperator['problemWith']): ConditionOperator => ({
  negated: false,
  compare,
  problemWith,
});
const negative = (operator: ConditionOperator): ConditionOperator => ({ ...operator, negated: true });

const stringLike = positive((r, p) => globMatches(p, r));
const numericEquals = positive(numeric((r, p) => r === p), isNumberText);
const dateEquals = positive(date((r, p) => r === p), isDateText);
const ipAddress = positive(ipInRange, isIpRangeText);
const arnLike = positive((r, p) => arnMatches(p, r));

/**
 * IAM's condition operators by base name (without `IfExists` and without a `ForAnyValue:` /
 * `ForAllValues:` qualifier). `ArnEquals` accepts wildcards just like `ArnLike`, as in IAM.
 */
const conditionOperators = {
  StringEquals: positive(stringEquals),
  StringNotEquals: negative(positive(stringEquals)),
  StringEqualsIgnoreCase: positive(stringEqualsIgnoreCase),
  StringNotEqualsIgnoreCase: negative(positive(stringEqualsIgnoreCase)),
  StringLike: stringLike,
  StringNotLike: negative(stringLike),
  NumericEquals: numericEquals,
  NumericNotEquals: negative(numericEquals),
  NumericLessThan: positive(numeric((r, p) => r < p), isNumberText),
  NumericLessThanEquals: positive(numeric((r, p) => r <= p), isNumberText),
  NumericGreaterThan: positive(numeric((r, p) => r > p), isNumberText),
  NumericGreaterThanEquals: positive(numeric((r, p) => r >= p), isNumberText),
  DateEquals: dateEquals,
  DateNotEquals: negative(dateEquals),
  DateLessThan: positive(date((r, p) => r < p), isDateText),
  DateLessThanEquals: positive(date((r, p) => r <= p), isDateText),
  DateGreaterThan: positive(date((r, p) => r > p), isDateText),
  DateGreaterThanEquals: positive(date((r, p) => r >= p), isDateText),
  Bool: positive(stringEqualsIgnoreCase, isBooleanText),
  BinaryEquals: positive(stringEquals),
  IpAddress: ipAddress,
  NotIpAddress: negative(ipAddress),
  ArnEquals: arnLike,
  ArnLike: arnLike,
  ArnNotEquals: negative(arnLike),
  ArnNotLike: negative(arnLike),
  // Null tests presence, not values: evaluated apart in nullHolds.
  Null: positive(() => false, isBooleanText),
} satisfies Record<string, ConditionOperator>;

/** A condition operator's base name, e.g. `StringLike` for `ForAnyValue:StringLikeIfExists`. */
export type ConditionTest = keyof typeof conditionOperators;

/** Splits an operator as written into its qualifier, base test and IfExists flag; undefined if IAM has no such operator. */
export function parseConditionOperator(
  written: string,
): { test: ConditionTest; set?: 'ForAnyValue' | 'ForAllValues'; ifExists: boolean } | undefined {
  const qualifier = /^(ForAnyValue|ForAllValues):/.exec(written)?.[1] as 'ForAnyValue' | 'ForAllValues' | undefined;
  let base = qualifier === undefined ? written : written.slice(qualifier.length + 1);
  const ifExists = base.endsWith('IfExists');
  if (ifExists) base = base.slice(0, -'IfExists'.length);
  if (!Object.hasOwn(conditionOperators, base)) return undefined;
  const test = base as ConditionTest;
  // Null already asks whether a key exists, so IAM allows neither IfExists nor a set qualifier on it.
  if (test === 'Null' && (ifExists || qualifier !== undefined)) return undefined;
  return qualifier === undefined ? { test, ifExists } : { test, set: qualifier, ifExists };
}

/** Why `policyValue` cannot be used with `test`, or undefined when it can. */
export function conditionValueProblem(test: ConditionTest, policyValue: string): string | undefined {
  const operator: ConditionOperator = conditionOperators[test];
  return operator.problemWith?.(policyValue);
}

/**
 * IAM semantics for a key missing from the request (or with no values): IfExists and ForAllValues
 * hold, negated operators hold, everything else fails. With values present, ForAnyValue needs one
 * request value to satisfy the operator, ForAllValues needs all; an unqualified positive operator
 * needs any request value to match, an unqualified negated one needs no request value to match.
 */
function conditionHolds(condition: Condition, context: Context): boolean {
  const requestValues = context.get(condition.key.toLowerCase()) ?? [];
  if (condition.test === 'Null') return nullHolds(condition.values, requestValues.length === 0);
  const operator: ConditionOperator = conditionOperators[condition.test];
  if (requestValues.length === 0) {
    if (condition.ifExists || condition.set === 'ForAllValues') return true;
    if (condition.set === 'ForAnyValue') return false;
    return operator.negated;
  }
  const matchesPolicy = (value: string) => condition.values.some((policyValue) => operator.compare(value, policyValue));
  const satisfies = (value: string) => matchesPolicy(value) !== operator.negated;
  if (condition.set === 'ForAllValues') return requestValues.every(satisfies);
  if (condition.set === 'ForAnyValue') return requestValues.some(satisfies);
  return operator.negated ? requestValues.every(satisfies) : requestValues.some(satisfies);
}

/** `Null: {key: "true"}` holds when the key is absent, `"false"` when it is present. */
function nullHolds(policyValues: string[], keyAbsent: boolean): boolean {
  return policyValues.some((value) => (value.toLowerCase() === 'true') === keyAbsent);
}

function toNumber(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/** IAM dates are ISO 8601 (`2026-01-31`, `2026-01-31T12:00:00Z`) or epoch seconds. */
function toEpochMs(text: string): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  return /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
}

type IpFamily = 'ipv4' | 'ipv6';

/** `10.0.0.0/8`, `2001:db8::/32`, or a single address (a /32 or /128); undefined if malformed. */
function parseCidr(text: string): { address: string; prefix: number; family: IpFamily } | undefined {
  const [address = '', prefixText, ...rest] = text.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const family: IpFamily = version === 4 ? 'ipv4' : 'ipv6';
  const maxPrefix = version === 4 ? 32 : 128;
  if (prefixText === undefined) return { address, prefix: maxPrefix, family };
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > maxPrefix) return undefined;
  return { address, prefix: Number(prefixText), family };
}

function ipInRange(requestValue: string, policyValue: string): boolean {
  const range = parseCidr(policyValue);
  const version = isIP(requestValue);
  if (range === undefined || version === 0) return false;
  const family: IpFamily = version === 4 ? 'ipv4' : 'ipv6';
  if (family !== range.family) return false;
  const block = new BlockList();
  block.addSubnet(range.address, range.prefix, range.family);
  return block.check(requestValue, family);
}
