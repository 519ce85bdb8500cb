import type { CacheRule } from '../../registry/pullthrough/cache-rules.ts';
import { checkOf, type DoctorCheck } from './doctor-check.ts';
import type { DoctorDeps, DoctorOptions } from './doctor-deps.ts';
import { withTimeout } from './network-probes.ts';

/** An upstream that has not answered by then is reported unreachable: the doctor must not hang on one. */
export const upstreamPingTimeoutMs = 5_000;

/** Each pull-through cache rule: its credential exists, and its upstream answers `/v2/` with it (in parallel). */
export async function pullThroughChecks(deps: DoctorDeps, options: DoctorOptions): Promise<DoctorCheck[]> {
  const ws = options.workspace.slug;
  let rules: CacheRule[];
  try {
    rules = await deps.cacheRules(options.workspace);
  } catch (error) {
    return [checkOf('pull-through', 'Pull-through cache rules', 'error').problem(`a stored pull-through cache rule is not valid: ${(error as Error).message}`, `berth registry cache-rules list --workspace ${ws}, then delete the broken one: berth registry cache-rules delete PREFIX --workspace ${ws}`)];
  }
  if (rules.length === 0) return [checkOf('pull-through', 'Pull-through cache rules', 'info').pass('the workspace has no pull-through cache rule')];
  const names = new Set((await deps.credentials(options.workspace.id)).map((record) => record.name));
  return Promise.all(rules.map((rule) => ruleCheck(deps, ws, rule, names)));
}

async function ruleCheck(deps: DoctorDeps, ws: string, rule: CacheRule, credentialNames: Set<string>): Promise<DoctorCheck> {
  const check = checkOf(`pull-through:${rule.prefix}`, `Pull-through cache rule ${rule.prefix} → ${rule.upstreamRegistryUrl}`, 'error');
  const recreate = `berth registry cache-rules delete ${rule.prefix} --workspace ${ws}\nberth registry cache-rules create ${rule.prefix} <working upstream URL> --workspace ${ws}`;
  if (rule.credentialName && !credentialNames.has(rule.credentialName)) {
    return check.problem(
      `the rule logs in upstream with the credential ${rule.credentialName}, which no longer exists (pulls answer SecretNotFoundException)`,
      `berth registry cache-rules delete ${rule.prefix} --workspace ${ws}\nberth registry cache-rules create ${rule.prefix} ${rule.upstreamRegistryUrl} --username UPSTREAM_USER --workspace ${ws} < token.txt`,
    );
  }
  try {
    const login = rule.credentialName ? await deps.revealCredential(rule.workspaceId, rule.credentialName) : undefined;
    await withTimeout(deps.pingUpstream(rule.upstreamBase, login), upstreamPingTimeoutMs, `${rule.upstreamBase} did not answer within ${upstreamPingTimeoutMs / 1000} s`);
    return check.pass(`${rule.upstreamBase} answers${rule.credentialName ? ` and accepts the credential ${rule.credentialName}` : ''}`);
  } catch (error) {
    const message = (error as Error).message;
    if ((error as Error).name === 'UpstreamUnauthorized') {
      return check.problem(
        `${rule.upstreamBase} refuses the rule's login: ${message}`,
        `store a working login: berth registry cache-rules delete ${rule.prefix} --workspace ${ws} && berth registry cache-rules create ${rule.prefix} ${rule.upstreamRegistryUrl} --username UPSTREAM_USER --workspace ${ws} < token.txt`,
      );
    }
    return check.problem(`the upstream of rule ${rule.prefix} cannot be used: ${message}`, `make ${rule.upstreamBase} reachable from the Berth host (check: curl -sS ${rule.upstreamBase}/v2/), or point the rule at a working registry:\n${recreate}`);
  }
}

