import { DescribeRegistryCommand, GetRepositoryPolicyCommand, SetRepositoryPolicyCommand, type ECRClient } from '@aws-sdk/client-ecr';
import { z } from 'zod';
import { ToolboxError, type EcrTarget, type ToolboxContext, type ToolboxOperation } from '../toolbox-operation.ts';
import { ecrCall, ecrCallOrAbsent, isEcrError, targetFields, toToolboxError } from './ecr-support.ts';
import { registryLocation } from './registry-location.ts';
import { actionsFor, parsePolicyText, sidFor, withStatementFor, type AccessLevel, type Policy, type PrincipalValue, type Statement } from './policy-statements.ts';

export const grantAccessInput = z.object({
  repositoryName: z.string().min(2).max(256).describe('Repository, relative to the registry (Berth: the workspace), e.g. `tools/samtools`.'),
  principal: z
    .string()
    .min(1)
    .max(300)
    .describe(
      'Who gets access: a Berth workspace slug (`lab-b` or `workspace:lab-b`, all its members), a user (`user:WS/NAME` or an IAM ARN `arn:aws:iam::<id>:user/NAME`), a 12-digit account / registry id, or a service (`omics.amazonaws.com`, `service:NAME`).',
    ),
  actions: z.enum(['pull', 'push']).default('pull').describe('`pull`, or `push` (which includes pull).'),
  ...targetFields,
});
export type GrantAccessInput = z.input<typeof grantAccessInput>;

export interface GrantResult {
  registryId: string;
  repositoryName: string;
  /** The principal as given, and as the policy names it. */
  principal: string;
  policyPrincipal: PrincipalValue;
  sid: string;
  actions: string[];
  /** Older statements for the same principal that the new one replaced (their Sids, `(no Sid)` when they had none). */
  replaced: string[];
  /** The resulting repository policy. */
  policy: Policy;
  policyText: string;
}

/** A principal as written, resolved to what a policy names. Workspaces become their registry's account. */
export async function resolvePrincipal(text: string, context: ToolboxContext, target: EcrTarget): Promise<PrincipalValue> {
  const value = text.trim();
  const invalid = () =>
    new ToolboxError(
      'INVALID_INPUT',
      `"${value.slice(0, 100)}" is not a principal: give a workspace slug, user:WORKSPACE/NAME, a 12-digit account id, arn:aws:iam::<account>:root|user/NAME|role/NAME, or a service such as omics.amazonaws.com`,
      { principal: value.slice(0, 300) },
    );
  if (value.startsWith('service:')) {
    const service = value.slice('service:'.length);
    if (!/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/.test(service)) throw invalid();
    return { Service: service };
  }
  if (/^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com$/.test(value)) return { Service: value };
  if (/^\d{12}$/.test(value)) return { AWS: `arn:aws:iam::${value}:root` };
  if (/^arn:aws:iam::\d{12}:(root|(user|role)\/[\w+=,.@-]+(\/[\w+=,.@-]+)*)$/.test(value)) return { AWS: value };
  const user = /^user:([^/]+)\/([\w+=,.@-]+)$/.exec(value);
  if (user) return { AWS: `arn:aws:iam::${await workspaceRegistryId(user[1]!, context, target)}:user/${user[2]}` };
  const workspace = /^(?:workspace:)?([a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)$/.exec(value);
  if (workspace && workspace[1]!.length >= 2) return { AWS: `arn:aws:iam::${await workspaceRegistryId(workspace[1]!, context, target)}:root` };
  throw invalid();
}

/**
 * A Berth workspace's 12-digit registry id: each workspace is one ECR registry, with a random id that
 * DescribeRegistry answers in that workspace. Reading it needs the view role there (or system admin).
 */
async function workspaceRegistryId(slug: string, context: ToolboxContext, target: EcrTarget): Promise<string> {
  const client = context.ecrClient({ ...target, workspace: slug });
  try {
    const answer = await client.send(new DescribeRegistryCommand({}));
    if ((await registryLocation(client)).amazon) {
      throw new ToolboxError('INVALID_INPUT', `Amazon ECR has no Berth workspaces: give the account id (or an IAM ARN) instead of "${slug}"`, { principal: slug });
    }
    return answer.registryId ?? '';
  } catch (error) {
    if (isEcrError(error, 'InvalidParameterException')) throw new ToolboxError('INVALID_INPUT', `no workspace "${slug}": check the slug (berth workspaces list)`, { principal: slug });
    if (isEcrError(error, 'AccessDeniedException')) {
      throw new ToolboxError('DENIED', `cannot read the registry id of workspace "${slug}" (not a member): give its 12-digit registry id instead (its members see it in berth workspaces list)`, {
        principal: slug,
      });
    }
    throw toToolboxError(error, `reading the registry id of workspace "${slug}"`);
  }
}

/** The repository's policy (empty when it has none); RepositoryNotFoundException becomes NOT_FOUND. */
export async function repositoryPolicyOf(client: ECRClient, repositoryName: string): Promise<{ policy: Policy; registryId?: string }> {
  const answer = await ecrCallOrAbsent(`reading the policy of ${repositoryName} (GetRepositoryPolicy)`, ['RepositoryPolicyNotFoundException'], () =>
    client.send(new GetRepositoryPolicyCommand({ repositoryName })),
  );
  return { policy: parsePolicyText(answer?.policyText, `the policy of ${repositoryName}`), ...(answer?.registryId ? { registryId: answer.registryId } : {}) };
}

/**
 * Writes one statement for `principal` into a repository's policy, replacing older statements for the same
 * principal and keeping everyone else's (GetRepositoryPolicy, then SetRepositoryPolicy). Nothing is written
 * when the repository does not exist.
 */
export async function writeRepositoryStatement(client: ECRClient, repositoryName: string, principal: PrincipalValue, actions: string[]): Promise<Omit<GrantResult, 'principal'>> {
  const { policy: before } = await repositoryPolicyOf(client, repositoryName);
  const sid = sidFor(principal);
  const statement: Statement = { Sid: sid, Effect: 'Allow', Principal: principal, Action: actions };
  const { policy, replaced } = withStatementFor(before, principal, statement);
  const policyText = JSON.stringify(policy);
  const written = await ecrCall(`setting the policy of ${repositoryName} (SetRepositoryPolicy)`, () => client.send(new SetRepositoryPolicyCommand({ repositoryName, policyText })));
  return {
    registryId: written.registryId ?? '',
    repositoryName,
    policyPrincipal: principal,
    sid,
    actions,
    replaced: replaced.map((old) => old.Sid ?? '(no Sid)'),
    policy,
    policyText,
  };
}

export async function grantAccess(input: z.infer<typeof grantAccessInput>, context: ToolboxContext): Promise<GrantResult> {
  const target = { workspace: input.workspace, region: input.region };
  const principal = await resolvePrincipal(input.principal, context, target);
  const result = await writeRepositoryStatement(context.ecrClient(target), input.repositoryName, principal, actionsFor[input.actions as AccessLevel]);
  context.progress({ kind: 'step', message: `${input.principal} may ${input.actions} ${input.repositoryName}` });
  return { ...result, principal: input.principal };
}

export const grantAccessOperation: ToolboxOperation<typeof grantAccessInput, GrantResult> = {
  name: 'grantAccess',
  mcpTool: 'GrantRepositoryAccess',
  apiPath: 'grant',
  summary:
    "Lets a principal (a Berth workspace, a user, an AWS account, or a service such as omics.amazonaws.com) pull or push a repository: writes a policy statement with a stable Sid, replacing an older statement for the same principal and keeping everyone else's, and returns the resulting policy.",
  input: grantAccessInput,
  run: grantAccess,
};
