import { canonicalEcrAction, registryPolicyActions } from './ecr-actions.ts';
import { conditionValueProblem, globMatches, parseConditionOperator, type ConditionTest } from './iam-policy-evaluate.ts';

/** A repository policy is attached to one repository; a registry policy to a whole registry (a Berth workspace). */
export type PolicyKind = 'repository' | 'registry';

/** Policy text that ECR would refuse; the message names the problem and where it is, e.g. `Statement[1].Effect must be "Allow" or "Deny"`. */
export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

/** The AWS identities (account ids, IAM ARNs, or `*`) and service principals a Principal element names. */
export interface PrincipalSet {
  aws: string[];
  service: string[];
}

/** One condition key tested by one operator, e.g. `StringLike` on `aws:PrincipalArn`. */
export interface Condition {
  /** The operator as written, e.g. `ForAnyValue:StringLikeIfExists`. */
  operator: string;
  /** The operator's base test, e.g. `StringLike`. */
  test: ConditionTest;
  /** How a multi-valued request key is compared; absent for single-valued use. */
  set?: 'ForAnyValue' | 'ForAllValues';
  /** The `IfExists` suffix: the condition holds when the key is missing from the request. */
  ifExists: boolean;
  key: string;
  /** Policy values as text (JSON numbers and booleans are turned into their text). */
  values: string[];
}

/** One statement. Exactly one of each X / NotX pair is set, except that Resource may be absent in repository policies. */
export interface PolicyStatement {
  sid?: string;
  effect: 'Allow' | 'Deny';
  principals?: PrincipalSet | '*';
  notPrincipals?: PrincipalSet;
  actions?: string[];
  notActions?: string[];
  resources?: string[];
  notResources?: string[];
  conditions?: Condition[];
}

/** A validated policy. `text` is the policy exactly as submitted, which Get*Policy must return unchanged. */
export interface PolicyDocument {
  version: string;
  id?: string;
  statements: PolicyStatement[];
  text: string;
}

/** ECR's limit on policy text (SetRepositoryPolicy and PutRegistryPolicy), in characters. */
export const maxPolicyLength = 10_240;

const policyVersions = ['2012-10-17', '2008-10-17'];
const documentKeys = ['Version', 'Id', 'Statement'];
const statementKeys = ['Sid', 'Effect', 'Principal', 'NotPrincipal', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition'];
const principalKeys = ['AWS', 'Service'];

const awsPrincipalPattern = /^(?:\*|\d{12}|arn:aws:iam::\d{12}:(?:root|(?:user|role)\/[\w+=,.@-]+(?:\/[\w+=,.@-]+)*))$/;
const servicePrincipalPattern = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/;
const arnPattern = /^arn:[^:\s]+:[^:\s]+:[^:\s]*:[^:\s]*:\S+$/;

/**
 * Validates policy text the way ECR's SetRepositoryPolicy / PutRegistryPolicy do and returns its
 * statements. Throws PolicyError naming the first problem found.
 */
export function parsePolicy(text: string, kind: PolicyKind): PolicyDocument {
  const root = readJsonObject(text);
  rejectUnknownKeys(root, documentKeys, 'policy');
  const version = readVersion(root.Version);
  const id = readOptionalString(root.Id, 'Id');
  const statements = readStatements(root.Statement, kind);
  return id === undefined ? { version, statements, text } : { version, id, statements, text };
}

function readJsonObject(text: string): Record<string, unknown> {
  if (text.trim() === '') throw new PolicyError('policy text is empty');
  if (text.length > maxPolicyLength) {
    throw new PolicyError(`policy text is ${text.length} characters long; the limit is ${maxPolicyLength}`);
  }
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    throw new PolicyError(`policy text is not valid JSON: ${(error as Error).message}`);
  }
  if (!isObject(root)) throw new PolicyError('policy must be a JSON object');
  return root;
}

function readVersion(value: unknown): string {
  if (value === undefined) throw new PolicyError('Version is required: "2012-10-17" or "2008-10-17"');
  if (typeof value !== 'string' || !policyVersions.includes(value)) {
    throw new PolicyError(`Version must be "2012-10-17" or "2008-10-17", not ${show(value)}`);
  }
  return value;
}

function readStatements(value: unknown, kind: PolicyKind): PolicyStatement[] {
  if (value === undefined) throw new PolicyError('Statement is required');
  // A single statement may be written as an object; messages then say `Statement.Effect`, not `Statement[0].Effect`.
  const entries = Array.isArray(value) ? value.map((entry, index) => ({ entry, path: `Statement[${index}]` })) : [{ entry: value, path: 'Statement' }];
  if (entries.length === 0 || (!Array.isArray(value) && !isObject(value))) {
    throw new PolicyError('Statement must be an object or a non-empty array of objects');
  }
  const pathsBySid = new Map<string, string>();
  return entries.map(({ entry, path }) => {
    const statement = readStatement(entry, path, kind);
    if (statement.sid !== undefined) {
      const earlier = pathsBySid.get(statement.sid);
      if (earlier !== undefined) throw new PolicyError(`${path}.Sid ${show(statement.sid)} repeats ${earlier}.Sid; Sids must be unique`);
      pathsBySid.set(statement.sid, path);
    }
    return statement;
  });
}

function readStatement(entry: unknown, path: string, kind: PolicyKind): PolicyStatement {
  if (!isObject(entry)) throw new PolicyError(`${path} must be an object`);
  rejectUnknownKeys(entry, statementKeys, path);
  const statement: PolicyStatement = { effect: readEffect(entry.Effect, `${path}.Effect`) };
  const sid = readOptionalString(entry.Sid, `${path}.Sid`);
  if (sid !== undefined) statement.sid = sid;
  Object.assign(statement, readPrincipals(entry, path), readActions(entry, path, kind), readResources(entry, path, kind));
  if (entry.Condition !== undefined) statement.conditions = readConditions(entry.Condition, `${path}.Condition`);
  return statement;
}

function readEffect(value: unknown, path: string): 'Allow' | 'Deny' {
  if (value === 'Allow' || value === 'Deny') return value;
  if (value === undefined) throw new PolicyError(`${path} is required: "Allow" or "Deny"`);
  throw new PolicyError(`${path} must be "Allow" or "Deny", not ${show(value)}`);
}

// ---- X / NotX elements ---------------------------------------------------------------------

/** Which of an IAM element and its Not twin a statement uses; both at once is an error. */
function pickElement(entry: Record<string, unknown>, name: string, path: string): { negated: boolean; value: unknown; path: string } | undefined {
  const notName = `Not${name}`;
  if (entry[name] !== undefined && entry[notName] !== undefined) {
    throw new PolicyError(`${path} has both ${name} and ${notName}; use one`);
  }
  if (entry[name] !== undefined) return { negated: false, value: entry[name], path: `${path}.${name}` };
  if (entry[notName] !== undefined) return { negated: true, value: entry[notName], path: `${path}.${notName}` };
  return undefined;
}

function readPrincipals(entry: Record<string, unknown>, path: string): Pick<PolicyStatement, 'principals' | 'notPrincipals'> {
  const element = pickElement(entry, 'Principal', path);
  if (element === undefined) throw new PolicyError(`${path} needs a Principal or a NotPrincipal`);
  const principals = readPrincipal(element.value, element.path);
  if (!element.negated) return { principals };
  if (principals === '*' || principals.aws.includes('*')) {
    throw new PolicyError(`${element.path} cannot be "*": the statement would apply to no one`);
  }
  return { notPrincipals: principals };
}

function readPrincipal(value: unknown, path: string): PrincipalSet | '*' {
  if (value === '*') return '*';
  if (!isObject(value)) throw new PolicyError(`${path} must be "*" or an object with AWS and/or Service`);
  rejectUnknownKeys(value, principalKeys, path, 'principal type');
  if (value.AWS === undefined && value.Service === undefined) throw new PolicyError(`${path} must name AWS and/or Service principals`);
  const aws = value.AWS === undefined ? [] : readStringList(value.AWS, `${path}.AWS`);
  const service = value.Service === undefined ? [] : readStringList(value.Service, `${path}.Service`);
  for (const item of aws) {
    if (!awsPrincipalPattern.test(item.value)) {
      throw new PolicyError(
        `${item.path} ${show(item.value)} is not "*", a 12-digit account id, or arn:aws:iam::<account>:root|user/<name>|role/<name>`,
      );
    }
  }
  for (const item of service) {
    if (!servicePrincipalPattern.test(item.value)) {
      throw new PolicyError(`${item.path} ${show(item.value)} is not a service principal such as "omics.amazonaws.com"`);
    }
  }
  return { aws: aws.map((item) => item.value), service: service.map((item) => item.value) };
}

function readActions(entry: Record<string, unknown>, path: string, kind: PolicyKind): Pick<PolicyStatement, 'actions' | 'notActions'> {
  const element = pickElement(entry, 'Action', path);
  if (element === undefined) throw new PolicyError(`${path} needs an Action or a NotAction`);
  const items = readStringList(element.value, element.path);
  for (const item of items) checkAction(item, kind, element.negated);
  const patterns = items.map((item) => item.value);
  return element.negated ? { notActions: patterns } : { actions: patterns };
}

/**
 * An action is `*` or `ecr:<Name>`, where Name may hold `*`/`?` wildcards; a name without wildcards
 * must be a real ECR action. A registry policy's Action may only reach the few registry-level actions.
 */
function checkAction(item: ListItem, kind: PolicyKind, negated: boolean): void {
  const { value, path } = item;
  if (value === '*') return;
  const colon = value.indexOf(':');
  if (colon <= 0 || colon === value.length - 1) throw new PolicyError(`${path} ${show(value)} must look like "ecr:<Action>"`);
  if (value.slice(0, colon).toLowerCase() !== 'ecr') {
    throw new PolicyError(`${path} ${show(value)} is not an Amazon ECR action; a ${kind} policy may only name ecr: actions`);
  }
  const hasWildcard = /[*?]/.test(value);
  if (!hasWildcard && canonicalEcrAction(value) === undefined) throw new PolicyError(`${path} ${show(value)} is not an Amazon ECR action`);
  const reachesRegistryAction = registryPolicyActions.some((action) => globMatches(value.toLowerCase(), action.toLowerCase()));
  if (kind === 'registry' && !negated && !reachesRegistryAction) {
    throw new PolicyError(`${path} ${show(value)} is not allowed in a registry policy, which only takes ${registryPolicyActions.join(', ')}`);
  }
}

function readResources(entry: Record<string, unknown>, path: string, kind: PolicyKind): Pick<PolicyStatement, 'resources' | 'notResources'> {
  const element = pickElement(entry, 'Resource', path);
  if (element === undefined) {
    // A repository policy is attached to its repository, which is the resource when none is named.
    if (kind === 'registry') throw new PolicyError(`${path} needs a Resource or a NotResource (required in a registry policy)`);
    return {};
  }
  const items = readStringList(element.value, element.path);
  for (const item of items) {
    if (item.value !== '*' && !arnPattern.test(item.value)) {
      throw new PolicyError(`${item.path} ${show(item.value)} is not "*" or an ARN such as arn:aws:ecr:<region>:<account>:repository/<name>`);
    }
  }
  const patterns = items.map((item) => item.value);
  return element.negated ? { notResources: patterns } : { resources: patterns };
}

// ---- Condition -----------------------------------------------------------------------------

/** `{"<operator>": {"<key>": value | [values]}}`, one Condition per operator and key; all of them must hold. */
function readConditions(value: unknown, path: string): Condition[] {
  if (!isObject(value)) throw new PolicyError(`${path} must be an object mapping operators to {key: value(s)}`);
  const conditions: Condition[] = [];
  for (const [operator, block] of Object.entries(value)) {
    const parsed = parseConditionOperator(operator);
    if (parsed === undefined) throw new PolicyError(`${path} has unknown operator ${show(operator)}`);
    const blockPath = `${path}.${operator}`;
    if (!isObject(block) || Object.keys(block).length === 0) {
      throw new PolicyError(`${blockPath} must be an object mapping condition keys to values`);
    }
    for (const [key, rawValues] of Object.entries(block)) {
      if (key.trim() === '') throw new PolicyError(`${blockPath} has an empty condition key`);
      const keyPath = `${blockPath}[${show(key)}]`;
      const values = readConditionValues(rawValues, keyPath);
      for (const policyValue of values) {
        const problem = conditionValueProblem(parsed.test, policyValue);
        if (problem !== undefined) throw new PolicyError(`${keyPath} value ${show(policyValue)} ${problem}`);
      }
      conditions.push({ operator, ...parsed, key, values });
    }
  }
  return conditions;
}

function readConditionValues(value: unknown, path: string): string[] {
  const isScalar = (item: unknown): item is string | number | boolean => ['string', 'number', 'boolean'].includes(typeof item);
  if (isScalar(value)) return [String(value)];
  if (Array.isArray(value) && value.length > 0 && value.every(isScalar)) return value.map(String);
  throw new PolicyError(`${path} must be a string, number, boolean or a non-empty array of them`);
}

// ---- JSON helpers --------------------------------------------------------------------------

interface ListItem {
  value: string;
  path: string;
}

/** IAM's "string or array of strings", each item with its own path for messages. */
function readStringList(value: unknown, path: string): ListItem[] {
  if (typeof value === 'string') return [{ value, path }];
  if (!Array.isArray(value) || value.length === 0) throw new PolicyError(`${path} must be a string or a non-empty array of strings`);
  return value.map((item: unknown, index) => {
    if (typeof item !== 'string') throw new PolicyError(`${path}[${index}] must be a string, not ${show(item)}`);
    return { value: item, path: `${path}[${index}]` };
  });
}

function readOptionalString(value: unknown, path: string): string | undefined {
  if (value === undefined || typeof value === 'string') return value;
  throw new PolicyError(`${path} must be a string, not ${show(value)}`);
}

/** IAM element names are case-sensitive, so a wrongly cased name is unknown; the message suggests the right one. */
function rejectUnknownKeys(object: Record<string, unknown>, allowed: string[], where: string, what = 'key'): void {
  for (const key of Object.keys(object)) {
    if (allowed.includes(key)) continue;
    const intended = allowed.find((name) => name.toLowerCase() === key.toLowerCase());
    const hint = intended === undefined ? ` (allowed: ${allowed.join(', ')})` : ` (did you mean "${intended}"?)`;
    throw new PolicyError(`${where} has unknown ${what} ${show(key)}${hint}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A value as JSON for messages, cut short so a huge value cannot flood an error response. */
function show(value: unknown): string {
  const json = JSON.stringify(value) ?? String(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}
