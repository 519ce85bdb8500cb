import { randomUUID } from 'node:crypto';
import type { Db } from '../../db/database.ts';
import { isUniqueViolation } from '../../db/database.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import { RegistryError } from '../errors.ts';

/** ECR's upstream registry kinds, with the registry each preset names. */
export const upstreamPresets = {
  'docker-hub': 'https://registry-1.docker.io',
  quay: 'https://quay.io',
  'ecr-public': 'https://public.ecr.aws',
  'github-container-registry': 'https://ghcr.io',
  k8s: 'https://registry.k8s.io',
  'gitlab-container-registry': 'https://registry.gitlab.com',
} as const;
export type UpstreamKind = keyof typeof upstreamPresets | 'generic';

/** Hosts clients write for a preset, so `docker.io` is Docker Hub as ECR understands it. */
const hostAliases: Record<string, keyof typeof upstreamPresets> = {
  'registry-1.docker.io': 'docker-hub',
  'docker.io': 'docker-hub',
  'index.docker.io': 'docker-hub',
  'quay.io': 'quay',
  'public.ecr.aws': 'ecr-public',
  'ghcr.io': 'github-container-registry',
  'registry.k8s.io': 'k8s',
  'registry.gitlab.com': 'gitlab-container-registry',
};

export interface CacheRule {
  workspaceId: string;
  id: string;
  /** ecrRepositoryPrefix: `<workspace>/<prefix>/<upstream path>` is cached from the upstream. */
  prefix: string;
  /** The upstream as given (ECR style: a host such as `registry-1.docker.io`, or a URL). */
  upstreamRegistryUrl: string;
  /** Where requests go: scheme and host[:port]. */
  upstreamBase: string;
  upstreamRegistry: UpstreamKind;
  /** Prepended to the upstream path (upstreamRepositoryPrefix). */
  upstreamPrefix: string | null;
  /** Name of the workspace credential used to log in upstream. */
  credentialName: string | null;
  createdAt: number;
  updatedAt: number;
}

const prefixPattern = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * Pull-through cache rules, as ECR defines them, per workspace: a repository prefix mapped to an
 * upstream registry, with an optional credential.
 */
export class CacheRules {
  constructor(private readonly db: Db) {}

  async create(workspace: Workspace, input: { prefix: string; upstreamRegistryUrl: string; upstreamRegistry?: string; upstreamPrefix?: string; credentialName?: string }): Promise<CacheRule> {
    if (input.prefix.length < 2 || input.prefix.length > 30 || !prefixPattern.test(input.prefix)) {
      throw new RegistryError('InvalidParameter', `Invalid parameter at 'ecrRepositoryPrefix': "${input.prefix.slice(0, 100)}" must be 2-30 characters of a repository name`);
    }
    const upstream = resolveUpstream(input.upstreamRegistryUrl, input.upstreamRegistry);
    const now = Date.now();
    const rule: CacheRule = {
      workspaceId: workspace.id,
      id: randomUUID(),
      prefix: input.prefix,
      upstreamRegistryUrl: input.upstreamRegistryUrl,
      ...upstream,
      upstreamPrefix: input.upstreamPrefix ?? null,
      credentialName: input.credentialName ?? null,
      createdAt: now,
      updatedAt: now,
    };
    const overlapping = (await this.list(workspace)).find((other) => rule.prefix.startsWith(`${other.prefix}/`) || other.prefix.startsWith(`${rule.prefix}/`));
    if (overlapping) throw new RegistryError('InvalidParameter', `The prefix '${rule.prefix}' overlaps the pull-through cache rule '${overlapping.prefix}'`);
    try {
      await this.db
        .insertInto('pull_through_rules')
        .values({
          id: rule.id,
          workspace_id: workspace.id,
          prefix: rule.prefix,
          upstream_url: rule.upstreamRegistryUrl,
          upstream_registry: rule.upstreamRegistry,
          upstream_prefix: rule.upstreamPrefix,
          credential_name: rule.credentialName,
          created_at: now,
          updated_at: now,
        })
        .execute();
    } catch (error) {
      if (isUniqueViolation(error)) {
        throw new RegistryError('PullThroughRuleAlreadyExists', `A pull through cache rule with the prefix '${rule.prefix}' already exists in the registry with id '${workspace.registryId}'`);
      }
      throw error;
    }
    return rule;
  }

  async list(workspace: Workspace): Promise<CacheRule[]> {
    const rows = await this.db.selectFrom('pull_through_rules').selectAll().where('workspace_id', '=', workspace.id).orderBy('prefix').execute();
    return rows.map(toRule);
  }

  async get(workspace: Workspace, prefix: string): Promise<CacheRule> {
    const row = await this.db.selectFrom('pull_through_rules').selectAll().where('workspace_id', '=', workspace.id).where('prefix', '=', prefix).executeTakeFirst();
    if (!row) throw new RegistryError('PullThroughRuleNotFound', `The pull through cache rule with prefix '${prefix}' does not exist in the registry with id '${workspace.registryId}'`);
    return toRule(row);
  }

  async byId(id: string): Promise<CacheRule | undefined> {
    const row = await this.db.selectFrom('pull_through_rules').selectAll().where('id', '=', id).executeTakeFirst();
    return row && toRule(row);
  }

  async update(workspace: Workspace, prefix: string, credentialName: string | null): Promise<CacheRule> {
    const rule = await this.get(workspace, prefix);
    const updatedAt = Date.now();
    await this.db.updateTable('pull_through_rules').set({ credential_name: credentialName, updated_at: updatedAt }).where('id', '=', rule.id).execute();
    return { ...rule, credentialName, updatedAt };
  }

  async delete(workspace: Workspace, prefix: string): Promise<CacheRule> {
    const rule = await this.get(workspace, prefix);
    await this.db.deleteFrom('pull_through_rules').where('id', '=', rule.id).execute();
    return rule;
  }

  /** The rule whose prefix starts `path` (a repository path inside the workspace), and the upstream repository. */
  async match(workspaceId: string, path: string): Promise<{ rule: CacheRule; upstreamRepository: string } | undefined> {
    const rows = await this.db.selectFrom('pull_through_rules').selectAll().where('workspace_id', '=', workspaceId).execute();
    const row = rows.filter((r) => path.startsWith(`${r.prefix}/`)).sort((a, b) => b.prefix.length - a.prefix.length)[0];
    if (!row) return undefined;
    const rule = toRule(row);
    return { rule, upstreamRepository: upstreamRepository(rule, path.slice(rule.prefix.length + 1)) };
  }
}

/** The upstream path for `rest`: with the upstream prefix, and Docker Hub's `library/` for one-part names. */
export function upstreamRepository(rule: CacheRule, rest: string): string {
  const withPrefix = rule.upstreamPrefix && rule.upstreamPrefix !== 'ROOT' ? `${rule.upstreamPrefix}/${rest}` : rest;
  return rule.upstreamRegistry === 'docker-hub' && !withPrefix.includes('/') ? `library/${withPrefix}` : withPrefix;
}

function resolveUpstream(url: string, declared: string | undefined): { upstreamBase: string; upstreamRegistry: UpstreamKind } {
  let parsed: URL;
  try {
    parsed = new URL(/^[a-z]+:\/\//.test(url) ? url : `https://${url}`);
  } catch {
    throw new RegistryError('InvalidParameter', `Invalid parameter at 'upstreamRegistryUrl': "${url.slice(0, 200)}" is not a registry host or URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new RegistryError('UnsupportedUpstream', `Upstream registry URL '${url}' must use https or http`);
  }
  if ((parsed.pathname !== '/' && parsed.pathname !== '') || parsed.search || parsed.username) {
    throw new RegistryError('InvalidParameter', `Invalid parameter at 'upstreamRegistryUrl': "${url}" must name a registry, not a path in it`);
  }
  const alias = hostAliases[parsed.host];
  const kind = (declared ?? alias ?? 'generic') as UpstreamKind;
  if (declared !== undefined && !(declared in upstreamPresets)) {
    throw new RegistryError('UnsupportedUpstream', `Unsupported upstream registry '${declared}'; use one of ${Object.keys(upstreamPresets).join(', ')}, or leave it out for any OCI registry`);
  }
  const base = alias === 'docker-hub' || kind === 'docker-hub' ? upstreamPresets['docker-hub'] : `${parsed.protocol}//${parsed.host}`;
  return { upstreamBase: base, upstreamRegistry: kind };
}

function toRule(row: { id: string; workspace_id: string; prefix: string; upstream_url: string; upstream_registry: string; upstream_prefix: string | null; credential_name: string | null; created_at: number; updated_at: number }): CacheRule {
  return {
    workspaceId: row.workspace_id,
    id: row.id,
    prefix: row.prefix,
    upstreamRegistryUrl: row.upstream_url,
    ...resolveUpstream(row.upstream_url, row.upstream_registry === 'generic' ? undefined : row.upstream_registry),
    upstreamPrefix: row.upstream_prefix,
    credentialName: row.credential_name,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
