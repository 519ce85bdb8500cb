import {
  CreateRepositoryCreationTemplateCommand,
  DescribeRepositoriesCommand,
  PutRegistryPolicyCommand,
  UpdateRepositoryCreationTemplateCommand,
  type ECRClient,
  type RepositoryCreationTemplate,
} from '@aws-sdk/client-ecr';
import { z } from 'zod';
import { ToolboxError, type ToolboxContext, type ToolboxOperation } from '../toolbox-operation.ts';
import { allCreationTemplates, ecrCall, registryIdOf, targetFields } from './ecr-support.ts';
import { writeRepositoryStatement, type GrantResult } from './grant-access.ts';
import { healthOmicsPrincipal, parsePolicyText, serviceRegistryActions, serviceRepositoryActions, sidFor, withStatementFor, type Policy, type Statement } from './policy-statements.ts';
import { registryPolicyOf } from './pull-through-usability.ts';

export const servicePrincipalField = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/)
  .default(healthOmicsPrincipal)
  .describe('The service principal to grant (default `omics.amazonaws.com`, AWS HealthOmics).');

export const grantHealthOmicsInput = z.object({
  repositoryName: z.string().min(2).max(256).optional().describe('One repository to open to the service, relative to the registry, e.g. `tools/samtools`.'),
  pullThroughPrefix: z
    .string()
    .min(2)
    .max(30)
    .optional()
    .describe('A pull-through cache prefix instead: the registry policy, the creation template for the prefix and every repository already under it.'),
  servicePrincipal: servicePrincipalField,
  ...targetFields,
});

/** What granting a service a pull-through prefix changed. */
export interface PrefixGrant {
  prefix: string;
  registryId: string;
  registryPolicyUpdated: boolean;
  /** `created` or `updated` (its repository policy now lets the service pull; other settings kept). */
  repositoryTemplate: 'created' | 'updated';
  /** Repositories that already existed under the prefix and got the statement too. */
  repositories: string[];
}

export interface HealthOmicsGrantResult {
  servicePrincipal: string;
  repository?: Omit<GrantResult, 'principal'>;
  pullThrough?: PrefixGrant;
  message: string;
}

/**
 * Lets a service fill and pull a pull-through cache: a registry policy statement for CreateRepository and
 * BatchImportUpstreamImage under the prefix, a PULL_THROUGH_CACHE creation template whose repository policy
 * lets it pull (created, or merged into the existing template), and the same statement on repositories the
 * cache already created.
 */
export async function grantServiceOnPrefix(client: ECRClient, prefix: string, servicePrincipal: string): Promise<PrefixGrant> {
  const registryId = await registryIdOf(client);
  const principal = { Service: servicePrincipal };
  const registryStatement: Statement = {
    Sid: sidFor(principal, 'BerthPullThrough'),
    Effect: 'Allow',
    Principal: principal,
    Action: serviceRegistryActions,
    Resource: `arn:aws:ecr:*:${registryId}:repository/${prefix}/*`,
  };
  // One statement per prefix: the Sid carries the prefix, so caches for other prefixes keep theirs.
  registryStatement.Sid = `${registryStatement.Sid}${prefix.replace(/[^A-Za-z0-9]/g, '')}`;
  const registryPolicy = (await registryPolicyOf(client)) ?? { Version: '2012-10-17', Statement: [] };
  const mergedRegistry = { ...registryPolicy, Statement: [...registryPolicy.Statement.filter((s) => s.Sid !== registryStatement.Sid), registryStatement] };
  await ecrCall('setting the registry policy (PutRegistryPolicy)', () => client.send(new PutRegistryPolicyCommand({ policyText: JSON.stringify(mergedRegistry) })));

  const repositoryStatement: Statement = { Sid: sidFor(principal), Effect: 'Allow', Principal: principal, Action: serviceRepositoryActions };
  const existing = (await allCreationTemplates(client)).find((template) => template.prefix === prefix);
  const repositoryTemplate = await writeTemplate(client, prefix, existing, repositoryStatement);

  const repositories = await repositoriesUnder(client, prefix);
  for (const name of repositories) await writeRepositoryStatement(client, name, principal, serviceRepositoryActions);
  return { prefix, registryId, registryPolicyUpdated: true, repositoryTemplate, repositories };
}

async function writeTemplate(client: ECRClient, prefix: string, existing: RepositoryCreationTemplate | undefined, statement: Statement): Promise<'created' | 'updated'> {
  const principal = statement.Principal as { Service: string };
  const base: Policy = parsePolicyText(existing?.repositoryPolicy, `the repository policy of template ${prefix}`);
  const repositoryPolicy = JSON.stringify(withStatementFor(base, principal, statement).policy);
  if (!existing) {
    await ecrCall(`creating the repository creation template ${prefix} (CreateRepositoryCreationTemplate)`, () =>
      client.send(
        new CreateRepositoryCreationTemplateCommand({
          prefix,
          description: `Pull-through cache ${prefix}: ${principal.Service} may pull`,
          appliedFor: ['PULL_THROUGH_CACHE'],
          repositoryPolicy,
        }),
      ),
    );
    return 'created';
  }
  const appliedFor = [...new Set([...(existing.appliedFor ?? []), 'PULL_THROUGH_CACHE' as const])];
  await ecrCall(`updating the repository creation template ${prefix} (UpdateRepositoryCreationTemplate)`, () =>
    client.send(new UpdateRepositoryCreationTemplateCommand({ prefix, appliedFor, repositoryPolicy })),
  );
  return 'updated';
}

async function repositoriesUnder(client: ECRClient, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await ecrCall('listing repositories (DescribeRepositories)', () => client.send(new DescribeRepositoriesCommand({ maxResults: 1000, ...(nextToken ? { nextToken } : {}) })));
    for (const repository of page.repositories ?? []) if (repository.repositoryName?.startsWith(`${prefix}/`)) names.push(repository.repositoryName);
    nextToken = page.nextToken;
  } while (nextToken);
  return names;
}

export async function grantHealthOmicsAccess(input: z.infer<typeof grantHealthOmicsInput>, context: ToolboxContext): Promise<HealthOmicsGrantResult> {
  if ((input.repositoryName === undefined) === (input.pullThroughPrefix === undefined)) {
    throw new ToolboxError('INVALID_INPUT', 'name either repositoryName (one repository) or pullThroughPrefix (a pull-through cache), not both or neither');
  }
  const client = context.ecrClient({ workspace: input.workspace, region: input.region });
  const service = input.servicePrincipal;
  if (input.repositoryName !== undefined) {
    const repository = await writeRepositoryStatement(client, input.repositoryName, { Service: service }, serviceRepositoryActions);
    return { servicePrincipal: service, repository, message: `${service} may now pull ${input.repositoryName}` };
  }
  const pullThrough = await grantServiceOnPrefix(client, input.pullThroughPrefix!, service);
  return {
    servicePrincipal: service,
    pullThrough,
    message: `${service} may now create and fill repositories under ${pullThrough.prefix}/ and pull from them (registry policy, template ${pullThrough.repositoryTemplate}, ${pullThrough.repositories.length} existing repositories)`,
  };
}

export const grantHealthOmicsAccessOperation: ToolboxOperation<typeof grantHealthOmicsInput, HealthOmicsGrantResult> = {
  name: 'grantHealthOmicsAccess',
  mcpTool: 'GrantHealthOmicsECRAccess',
  apiPath: 'grant/healthomics',
  summary:
    'Lets AWS HealthOmics (omics.amazonaws.com, or another service) pull a repository, or use a pull-through cache prefix: registry policy (CreateRepository, BatchImportUpstreamImage), the PULL_THROUGH_CACHE creation template and existing repositories under the prefix.',
  input: grantHealthOmicsInput,
  run: grantHealthOmicsAccess,
};
