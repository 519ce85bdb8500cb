import { z } from 'zod';
import type { ToolboxContext, ToolboxOperation } from '../toolbox-operation.ts';
import { allCreationTemplates, allPullThroughCacheRules, registryIdOf, targetFields } from './ecr-support.ts';
import { ruleView, type RuleView } from './create-pull-through-cache.ts';
import { servicePrincipalField } from './grant-healthomics.ts';
import { registryPolicyOf, ruleUsability, type RuleUsability } from './pull-through-usability.ts';

export const listPullThroughCacheRulesInput = z.object({
  servicePrincipal: servicePrincipalField,
  ...targetFields,
});

export interface ListedRule extends RuleView, RuleUsability {}

export interface ListPullThroughCacheRulesResult {
  registryId: string;
  /** The service each rule's usability is judged for. */
  servicePrincipal: string;
  rules: ListedRule[];
}

export async function listPullThroughCacheRules(input: z.infer<typeof listPullThroughCacheRulesInput>, context: ToolboxContext): Promise<ListPullThroughCacheRulesResult> {
  const client = context.ecrClient({ workspace: input.workspace, region: input.region });
  const [registryId, rules, templates, registryPolicy] = await Promise.all([registryIdOf(client), allPullThroughCacheRules(client), allCreationTemplates(client), registryPolicyOf(client)]);
  return {
    registryId,
    servicePrincipal: input.servicePrincipal,
    rules: rules.map((rule) => ({ ...ruleView(rule), ...ruleUsability(rule, registryId, registryPolicy, templates, input.servicePrincipal) })),
  };
}

export const listPullThroughCacheRulesOperation: ToolboxOperation<typeof listPullThroughCacheRulesInput, ListPullThroughCacheRulesResult> = {
  name: 'listPullThroughCacheRules',
  mcpTool: 'ListECRPullThroughCacheRules',
  apiPath: 'pull-through-caches/list',
  summary:
    "Lists the registry's pull-through cache rules with their upstream and credential, and whether the registry policy and the creation template let a service (AWS HealthOmics by default) use each one.",
  input: listPullThroughCacheRulesInput,
  run: listPullThroughCacheRules,
};
