import { GetRegistryPolicyCommand, type ECRClient, type PullThroughCacheRule, type RepositoryCreationTemplate } from '@aws-sdk/client-ecr';
import { ecrCallOrAbsent, templateFor } from './ecr-support.ts';
import { missingActions, parsePolicyText, serviceRegistryActions, serviceRepositoryActions, type Policy } from './policy-statements.ts';

/** Whether a service (HealthOmics by default) can use a pull-through cache rule, and what is missing. */
export interface RuleUsability {
  /** The registry policy lets the service create cache repositories and import upstream images under the prefix. */
  registryPermissionGranted: boolean;
  missingRegistryActions: string[];
  /** A creation template for PULL_THROUGH_CACHE covers the prefix (ECR applies it to the repositories it creates). */
  repositoryTemplateExists: boolean;
  repositoryTemplatePrefix?: string;
  /** That template's repository policy lets the service pull. */
  repositoryTemplatePermissionGranted: boolean;
  missingTemplateActions: string[];
  usable: boolean;
}

export async function registryPolicyOf(client: ECRClient): Promise<Policy | undefined> {
  const answer = await ecrCallOrAbsent('reading the registry policy (GetRegistryPolicy)', ['RegistryPolicyNotFoundException'], () => client.send(new GetRegistryPolicyCommand({})));
  return answer?.policyText ? parsePolicyText(answer.policyText, 'the registry policy') : undefined;
}

/** A repository ARN under the prefix, to test policies' Resource patterns against (regions are not compared). */
export function sampleRepositoryArn(registryId: string, prefix: string): string {
  return `arn:aws:ecr:*:${registryId}:repository/${prefix}/example`;
}

export function ruleUsability(
  rule: PullThroughCacheRule,
  registryId: string,
  registryPolicy: Policy | undefined,
  templates: readonly RepositoryCreationTemplate[],
  servicePrincipal: string,
): RuleUsability {
  const prefix = rule.ecrRepositoryPrefix ?? '';
  const service = { Service: servicePrincipal };
  const missingRegistryActions = registryPolicy ? missingActions(registryPolicy, service, serviceRegistryActions, sampleRepositoryArn(registryId, prefix)) : [...serviceRegistryActions];
  const template = templateFor(prefix, templates);
  const templatePolicy = template?.repositoryPolicy ? parsePolicyText(template.repositoryPolicy, `the repository policy of template ${template.prefix}`) : undefined;
  const missingTemplateActions = templatePolicy ? missingActions(templatePolicy, service, serviceRepositoryActions) : [...serviceRepositoryActions];
  return {
    registryPermissionGranted: missingRegistryActions.length === 0,
    missingRegistryActions,
    repositoryTemplateExists: template !== undefined,
    ...(template?.prefix ? { repositoryTemplatePrefix: template.prefix } : {}),
    repositoryTemplatePermissionGranted: missingTemplateActions.length === 0,
    missingTemplateActions,
    usable: missingRegistryActions.length === 0 && missingTemplateActions.length === 0,
  };
}
