import { createHash } from 'node:crypto';
import { globMatches } from '../../registry/policy/iam-policy-evaluate.ts';
import { pullActions, pushActions } from '../../registry/policy/ecr-actions.ts';
import { ToolboxError } from '../toolbox-operation.ts';

/** What a grant gives: pull, or push (which includes pull: a pusher checks what the repository has). */
export type AccessLevel = 'pull' | 'push';

export const actionsFor: Record<AccessLevel, string[]> = {
  pull: [...pullActions],
  push: [...new Set([...pullActions, ...pushActions])],
};

/** What HealthOmics needs on a repository to pull its images, and on the registry to fill pull-through caches. */
export const healthOmicsPrincipal = 'omics.amazonaws.com';
export const serviceRepositoryActions = [...pullActions];
export const serviceRegistryActions = ['ecr:CreateRepository', 'ecr:BatchImportUpstreamImage'];

/** A JSON policy statement, loosely typed: policies are the user's text and may hold anything IAM allows. */
export interface Statement {
  Sid?: string;
  Effect: string;
  Principal?: unknown;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  Condition?: unknown;
  [key: string]: unknown;
}

export interface Policy {
  Version: string;
  Id?: string;
  Statement: Statement[];
}

/** A policy principal: `{"AWS": "<arn>"}` or `{"Service": "<service>"}`. */
export type PrincipalValue = { AWS: string } | { Service: string };

export function parsePolicyText(text: string | undefined, what: string): Policy {
  if (!text) return { Version: '2012-10-17', Statement: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ToolboxError('FAILED', `${what} is not valid JSON; fix or delete it first`);
  }
  const policy = value as { Version?: string; Id?: string; Statement?: unknown };
  const statements = Array.isArray(policy.Statement) ? policy.Statement : policy.Statement ? [policy.Statement] : [];
  return { Version: policy.Version ?? '2012-10-17', ...(policy.Id ? { Id: policy.Id } : {}), Statement: statements as Statement[] };
}

export function listOf(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string');
}

/** An account id and its `:root` ARN are one principal; everything else compares as written (services case-insensitively). */
export function principalKey(principal: PrincipalValue): string {
  if ('Service' in principal) return `service:${principal.Service.toLowerCase()}`;
  const root = /^arn:aws:iam::(\d{12}):root$/.exec(principal.AWS);
  return `aws:${root ? root[1] : principal.AWS}`;
}

/** The principals a statement names, as keys (see principalKey); `*` as `*`. */
export function statementPrincipals(statement: Statement): string[] {
  const principal = statement.Principal;
  if (principal === '*') return ['*'];
  if (!principal || typeof principal !== 'object') return [];
  const set = principal as { AWS?: unknown; Service?: unknown };
  return [...listOf(set.AWS).map((aws) => (aws === '*' ? '*' : principalKey({ AWS: aws }))), ...listOf(set.Service).map((service) => principalKey({ Service: service }))];
}

/**
 * A Sid that stays the same for the same principal, so a later grant finds and replaces it:
 * `BerthGrant` + the principal's letters and digits, with a short hash when that loses anything.
 */
export function sidFor(principal: PrincipalValue, purpose = 'BerthGrant'): string {
  const key = principalKey(principal);
  const readable = key
    .replace(/^aws:arn:aws:iam::/, 'aws:')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 8);
  return `${purpose}${readable.slice(0, 60)}${hash}`;
}

/**
 * The policy with `statement` in place of older statements for the same principal: ours (same Sid) and
 * any unconditional Allow that names only this principal. Everyone else's statements are kept in order.
 */
export function withStatementFor(policy: Policy, principal: PrincipalValue, statement: Statement): { policy: Policy; replaced: Statement[] } {
  const key = principalKey(principal);
  const replaced: Statement[] = [];
  const kept = policy.Statement.filter((existing) => {
    const principals = statementPrincipals(existing);
    const sameSid = existing.Sid !== undefined && existing.Sid === statement.Sid;
    const onlyThisPrincipal = existing.Effect === 'Allow' && existing.Condition === undefined && principals.length === 1 && principals[0] === key;
    if (sameSid || onlyThisPrincipal) replaced.push(existing);
    return !(sameSid || onlyThisPrincipal);
  });
  return { policy: { ...policy, Statement: [...kept, statement] }, replaced };
}

/** Whether a statement's Action/NotAction covers an action (IAM globs, case-insensitive). */
export function coversAction(statement: Statement, action: string): boolean {
  const matches = (pattern: string) => pattern === '*' || globMatches(pattern.toLowerCase(), action.toLowerCase());
  if (statement.Action !== undefined) return listOf(statement.Action).some(matches);
  if (statement.NotAction !== undefined) return !listOf(statement.NotAction).some(matches);
  return false;
}

/**
 * Whether a statement's Resource covers an ARN; a statement without Resource covers its repository.
 * Regions are not compared: Berth answers API-token callers in its own region, which the caller may not know.
 */
export function coversResource(statement: Statement, arn: string | undefined): boolean {
  if (statement.Resource === undefined || arn === undefined) return statement.NotResource === undefined;
  const anyRegion = (text: string) => text.replace(/^(arn:[^:]*:[^:]*:)[^:]*:/, '$1*:');
  return listOf(statement.Resource).some((pattern) => pattern === '*' || globMatches(anyRegion(pattern), anyRegion(arn)));
}

/**
 * The actions of `wanted` a principal is NOT allowed by a policy (an unconditional Allow naming it or `*`,
 * and no Deny naming it); empty when everything is allowed.
 */
export function missingActions(policy: Policy, principal: PrincipalValue, wanted: readonly string[], resourceArn?: string): string[] {
  const key = principalKey(principal);
  const applies = (statement: Statement) => {
    const principals = statementPrincipals(statement);
    return (principals.includes(key) || principals.includes('*')) && coversResource(statement, resourceArn);
  };
  return wanted.filter((action) => {
    const relevant = policy.Statement.filter((statement) => applies(statement) && coversAction(statement, action));
    const denied = relevant.some((statement) => statement.Effect === 'Deny');
    const allowed = relevant.some((statement) => statement.Effect === 'Allow' && statement.Condition === undefined);
    return denied || !allowed;
  });
}

/** One statement as people read it: who, allowed or denied what, and whether that amounts to pulling or pushing. */
export interface StatementSummary {
  sid?: string;
  effect: string;
  principals: string[];
  actions: string[];
  pull: boolean;
  push: boolean;
  conditional: boolean;
}

export function summariseStatements(policy: Policy): StatementSummary[] {
  return policy.Statement.map((statement) => {
    const principal = statement.Principal;
    const principals =
      principal === '*'
        ? ['*']
        : principal && typeof principal === 'object'
          ? [...listOf((principal as { AWS?: unknown }).AWS), ...listOf((principal as { Service?: unknown }).Service)]
          : [];
    return {
      ...(statement.Sid ? { sid: statement.Sid } : {}),
      effect: statement.Effect,
      principals,
      actions: statement.Action !== undefined ? listOf(statement.Action) : listOf(statement.NotAction).map((action) => `not ${action}`),
      pull: actionsFor.pull.every((action) => coversAction(statement, action)),
      push: actionsFor.push.every((action) => coversAction(statement, action)),
      conditional: statement.Condition !== undefined,
    };
  });
}
