import { ValidatePullThroughCacheRuleCommand, type ECRClient, type PullThroughCacheRule } from '@aws-sdk/client-ecr';
import { z } from 'zod';
import type { ToolboxContext, ToolboxOperation } from '../toolbox-operation.ts';
import { allCreationTemplates, allPullThroughCacheRules, ecrErrorName, registryIdOf, targetFields } from './ecr-support.ts';
import { servicePrincipalField } from './grant-healthomics.ts';
import { serviceRegistryActions, serviceRepositoryActions } from './policy-statements.ts';
import { registryPolicyOf, ruleUsability } from './pull-through-usability.ts';

export const validateEcrInput = z.object({
  servicePrincipal: servicePrincipalField,
  ...targetFields,
});

export type CheckStatus = 'pass' | 'fail' | 'warn';

/** One item of the checklist; a failing or warning item says how to fix it. */
export interface EcrCheck {
  id: string;
  status: CheckStatus;
  message: string;
  fix?: string;
}

export interface ValidateEcrResult {
  registryId: string;
  servicePrincipal: string;
  /** No check failed. */
  valid: boolean;
  pullThroughCachesChecked: number;
  checks: EcrCheck[];
}

/** ValidatePullThroughCacheRule: the upstream answers and takes the rule's credential. */
async function upstreamCheck(client: ECRClient, rule: PullThroughCacheRule): Promise<EcrCheck> {
  const prefix = rule.ecrRepositoryPrefix ?? '';
  const id = `pull-through:${prefix}:upstream`;
  try {
    const answer = await client.send(new ValidatePullThroughCacheRuleCommand({ ecrRepositoryPrefix: prefix }));
    if (answer.isValid) return { id, status: 'pass', message: `${prefix}: ${rule.upstreamRegistryUrl} answers${rule.credentialArn ? ' and accepts the credential' : ''}` };
    return {
      id,
      status: 'fail',
      message: `${prefix}: ${rule.upstreamRegistryUrl} fails validation: ${answer.failure ?? 'no reason given'}`,
      fix: rule.credentialArn
        ? `check the upstream URL and the secret ${rule.credentialArn} (UpdatePullThroughCacheRule to name another)`
        : `check that ${rule.upstreamRegistryUrl} is reachable from the registry; if it needs a login, store one and name it (berth registry cache-rules create ${prefix} … --username)`,
    };
  } catch (error) {
    return { id, status: 'warn', message: `${prefix}: could not validate the rule (${ecrErrorName(error) ?? (error as Error).message})`, fix: 'ValidatePullThroughCacheRule needs ecr:ValidatePullThroughCacheRule (Berth: the view role)' };
  }
}

export async function validateEcrConfiguration(input: z.infer<typeof validateEcrInput>, context: ToolboxContext): Promise<ValidateEcrResult> {
  const client = context.ecrClient({ workspace: input.workspace, region: input.region });
  const service = input.servicePrincipal;
  const [registryId, rules, templates, registryPolicy] = await Promise.all([registryIdOf(client), allPullThroughCacheRules(client), allCreationTemplates(client), registryPolicyOf(client)]);
  const checks: EcrCheck[] = [];
  if (rules.length === 0) {
    checks.push({
      id: 'pull-through:rules',
      status: 'warn',
      message: 'No pull-through cache rules: workflows must use images copied into the registry',
      fix: 'create one for each public registry your workflows use: berth ecr pull-through create docker-hub --healthomics',
    });
  } else {
    checks.push({ id: 'pull-through:rules', status: 'pass', message: `${rules.length} pull-through cache rule(s): ${rules.map((r) => r.ecrRepositoryPrefix).join(', ')}` });
  }
  for (const rule of rules) checks.push(await upstreamCheck(client, rule));

  for (const rule of rules) {
    const prefix = rule.ecrRepositoryPrefix ?? '';
    const usability = ruleUsability(rule, registryId, registryPolicy, templates, service);
    const grantFix = `berth grant healthomics --pull-through ${prefix}${service === 'omics.amazonaws.com' ? '' : ` --service ${service}`}`;
    checks.push(
      usability.registryPermissionGranted
        ? { id: `pull-through:${prefix}:registry-policy`, status: 'pass', message: `${prefix}: the registry policy lets ${service} create and import (${serviceRegistryActions.join(', ')})` }
        : {
            id: `pull-through:${prefix}:registry-policy`,
            status: 'fail',
            message: `${prefix}: ${registryPolicy ? 'the registry policy does not let' : 'no registry policy lets'} ${service} ${usability.missingRegistryActions.join(', ')} under ${prefix}/`,
            fix: `${grantFix} (or PutRegistryPolicy with an Allow for {"Service":"${service}"} on ${usability.missingRegistryActions.join(', ')}, Resource arn:aws:ecr:<region>:${registryId}:repository/${prefix}/*)`,
          },
    );
    if (!usability.repositoryTemplateExists) {
      checks.push({
        id: `pull-through:${prefix}:template`,
        status: 'fail',
        message: `${prefix}: no repository creation template for PULL_THROUGH_CACHE covers ${prefix}/, so the repositories it creates have no policy for ${service}`,
        fix: `${grantFix} (or CreateRepositoryCreationTemplate prefix ${prefix}, appliedFor PULL_THROUGH_CACHE, with a repository policy allowing ${serviceRepositoryActions.join(', ')})`,
      });
    } else if (!usability.repositoryTemplatePermissionGranted) {
      checks.push({
        id: `pull-through:${prefix}:template`,
        status: 'fail',
        message: `${prefix}: the creation template ${usability.repositoryTemplatePrefix} does not let ${service} ${usability.missingTemplateActions.join(', ')}`,
        fix: `${grantFix} (or UpdateRepositoryCreationTemplate ${usability.repositoryTemplatePrefix} with a repository policy allowing them)`,
      });
    } else {
      checks.push({ id: `pull-through:${prefix}:template`, status: 'pass', message: `${prefix}: the creation template ${usability.repositoryTemplatePrefix} lets ${service} pull` });
    }
  }
  return { registryId, servicePrincipal: service, valid: checks.every((check) => check.status !== 'fail'), pullThroughCachesChecked: rules.length, checks };
}

export const validateEcrConfigurationOperation: ToolboxOperation<typeof validateEcrInput, ValidateEcrResult> = {
  name: 'validateEcrConfiguration',
  mcpTool: 'ValidateECRConfiguration',
  apiPath: 'validate-ecr',
  summary:
    "Checks a registry's pull-through setup for a service (AWS HealthOmics by default): rules present, each rule's upstream validated, the registry policy lets the service create repositories and import images, and creation templates give the cache repositories a policy that lets it pull. Each item passes or fails with its fix.",
  input: validateEcrInput,
  run: validateEcrConfiguration,
};
