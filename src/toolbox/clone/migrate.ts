import { z } from 'zod';
import { isValidName } from '../../registry/names.ts';
import { dockerHub, formatImageReference, namesRegistryHost, normaliseRegistryHost, type ImageReference } from '../references.ts';
import { ToolboxError, type ToolboxContext } from '../toolbox-operation.ts';
import { copyRepository, listTags, newCloneSession, readImage, type CloneSession, type CloneTotals, type CloneTuning } from './clone-image.ts';
import { toolboxFailure } from './registry-access.ts';

export const migrateInput = z.object({
  from: z.string().min(1).describe('The source registry and repository prefix: REGISTRY[/PREFIX], e.g. ghcr.io/old-org'),
  to: z.string().min(1).describe('The target registry and prefix the repositories move under: HOST[/PREFIX], e.g. berth.example.org/lab'),
  repositories: z
    .array(z.string().min(1))
    .optional()
    .describe('Repositories to move, relative to the source prefix (or full paths under it); default: every repository of the source catalog under the prefix'),
  dryRun: z.boolean().optional().describe('Only list what would be copied (repositories, tags, sizes); change nothing'),
  concurrency: z.number().int().min(1).max(16).optional().describe('Blobs copied at the same time (default 4)'),
  insecureRegistries: z.array(z.string()).optional().describe('Registry hosts spoken to over plain HTTP (loopback hosts always are)'),
});
export type MigrateInput = z.infer<typeof migrateInput>;

export interface MigratedRepository {
  source: string;
  target: string;
  tags: string[];
  /** Bytes of the distinct blobs of all its tags (a dry run measures them; a real run counts what it handled). */
  sizeBytes: number;
}

/** A line to paste into a tool's configuration so it pulls from the new place. */
export interface ConfigurationLine {
  tool: string;
  file: string;
  line: string;
}

/** Where a pull-through cache rule could serve the source registry instead of a copy. */
export interface PullThroughHint {
  upstream: string;
  command: string;
  /** How an image of the source is named through the rule: `HOST/<workspace>/<prefix>/<upstream path>:<tag>`. */
  example: string;
  note: string;
}

export interface MigrateResult {
  from: string;
  to: string;
  dryRun: boolean;
  repositories: MigratedRepository[];
  /** Every old image reference → its new one. */
  replacements: Record<string, string>;
  configuration: ConfigurationLine[];
  pullThrough?: PullThroughHint;
  totals?: CloneTotals;
  durationMs: number;
}

interface Location {
  registry: string;
  /** Path prefix inside the registry, without slashes at either end; '' for the whole registry. */
  prefix: string;
}

/** Registries a Berth pull-through cache rule has a preset for: the preset's name, and a short rule prefix to suggest. */
const pullThroughPresets: Record<string, { preset: string; prefix: string }> = {
  'docker.io': { preset: 'docker-hub', prefix: 'docker-hub' },
  'quay.io': { preset: 'quay', prefix: 'quay' },
  'ghcr.io': { preset: 'github-container-registry', prefix: 'ghcr' },
  'public.ecr.aws': { preset: 'ecr-public', prefix: 'ecr-public' },
  'registry.k8s.io': { preset: 'k8s', prefix: 'k8s' },
  'registry.gitlab.com': { preset: 'gitlab-container-registry', prefix: 'gitlab' },
};

/**
 * Moves a set of repositories (every tag of each) from one registry prefix to another, or with
 * `dryRun` only lists them. Either way it gives the lines to change in configuration, and points
 * out when a pull-through cache rule could serve the source registry without copying at all.
 */
export async function migrateRepositories(input: MigrateInput, context: ToolboxContext, tuning: CloneTuning = {}): Promise<MigrateResult> {
  const startedAt = Date.now();
  const from = parseLocation(input.from, 'from');
  const to = parseLocation(input.to, 'to');
  const session = newCloneSession(context, input, tuning);
  const names = await repositoryNames(session, from, input.repositories);
  const repositories: MigratedRepository[] = [];
  const replacements: Record<string, string> = {};
  for (const name of names) {
    const source = { registry: from.registry, repository: join(from.prefix, name) };
    const target = { registry: to.registry, repository: join(to.prefix, name) };
    let tags: string[];
    let sizeBytes: number;
    if (input.dryRun) {
      tags = await listTags(session, source);
      sizeBytes = await distinctBlobBytes(session, source, tags);
    } else {
      const before = session.blobs.length;
      tags = await copyRepository(session, source, target);
      sizeBytes = session.blobs.slice(before).reduce((sum, blob) => sum + blob.size, 0);
    }
    repositories.push({ source: `${source.registry}/${source.repository}`, target: `${target.registry}/${target.repository}`, tags, sizeBytes });
    for (const tag of tags) replacements[formatImageReference({ ...source, tag })] = formatImageReference({ ...target, tag });
  }
  const result: MigrateResult = {
    from: `${from.registry}${from.prefix ? `/${from.prefix}` : ''}`,
    to: `${to.registry}${to.prefix ? `/${to.prefix}` : ''}`,
    dryRun: input.dryRun ?? false,
    repositories,
    replacements,
    configuration: configurationLines(from, to, repositories),
    durationMs: 0,
  };
  const hint = pullThroughHint(from, to, repositories);
  if (hint) result.pullThrough = hint;
  if (!input.dryRun) result.totals = session.result(result.from, result.to).totals;
  result.durationMs = Date.now() - startedAt;
  return result;
}

/** `ghcr.io/org/sub` → registry ghcr.io, prefix org/sub; a first component that is not a host means Docker Hub. */
export function parseLocation(text: string, what: string): Location {
  const trimmed = text.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
  const [first = '', ...rest] = trimmed.split('/');
  const isHost = namesRegistryHost(`${trimmed}/`);
  const registry = isHost ? normaliseRegistryHost(first) : dockerHub;
  const prefix = (isHost ? rest : [first, ...rest]).filter(Boolean).join('/');
  if (!registry || (prefix && !isValidName(prefix))) {
    throw new ToolboxError('INVALID_INPUT', `--${what} "${text}" is not REGISTRY[/PREFIX] (lower case path components)`, { [what]: text });
  }
  return { registry, prefix };
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}/${name}` : name;
}

/** The names to move, relative to the source prefix: the explicit list, or the catalog's repositories under the prefix. */
async function repositoryNames(session: CloneSession, from: Location, explicit: string[] | undefined): Promise<string[]> {
  if (explicit?.length) {
    return explicit.map((name) => {
      const relative = from.prefix && name.startsWith(`${from.prefix}/`) ? name.slice(from.prefix.length + 1) : name;
      if (!isValidName(relative)) throw new ToolboxError('INVALID_INPUT', `"${name}" is not a repository name`, { repository: name });
      return relative;
    });
  }
  const client = await session.access.client(from.registry);
  const catalog = await client.catalog(session.context.signal).catch((error: unknown) => {
    const failure = toolboxFailure(error, `listing the repositories of ${from.registry}`);
    if (!(failure instanceof ToolboxError)) throw failure;
    throw new ToolboxError(failure.code, `${failure.message}. This registry does not list its repositories to you: name them with --repository`, failure.detail);
  });
  const under = from.prefix ? catalog.filter((name) => name.startsWith(`${from.prefix}/`)).map((name) => name.slice(from.prefix.length + 1)) : catalog;
  if (under.length === 0) throw new ToolboxError('NOT_FOUND', `${from.registry} lists no repositories under ${from.prefix || 'its root'} that you may read`);
  return under.sort();
}

/** Bytes of the distinct blobs of the given tags, reading only manifests. */
async function distinctBlobBytes(session: CloneSession, repository: Pick<ImageReference, 'registry' | 'repository'>, tags: string[]): Promise<number> {
  const client = await session.access.client(repository.registry);
  const sizes = new Map<string, number>();
  for (const tag of tags) {
    const tree = await readImage(client, { ...repository, tag }, session.context.signal).catch((error: unknown) => {
      throw toolboxFailure(error, `reading ${repository.registry}/${repository.repository}:${tag}`);
    });
    for (const blob of tree.blobs) sizes.set(blob.digest, blob.size);
  }
  return [...sizes.values()].reduce((sum, size) => sum + size, 0);
}

/** The tag a tool would most likely be pointed at: `latest` when there is one, else the last in order. */
function representativeTag(tags: string[]): string | undefined {
  return tags.includes('latest') ? 'latest' : tags.at(-1);
}

/**
 * Lines for the tools that name images in their configuration: JupyterHub (KubeSpawner, DockerSpawner,
 * the Zero to JupyterHub chart), Nextflow (per process, and `docker.registry` when only the host
 * changes), and a sed command that rewrites every other file (Snakemake, WDL, CWL, Dockerfiles).
 */
function configurationLines(from: Location, to: Location, repositories: MigratedRepository[]): ConfigurationLine[] {
  const lines: ConfigurationLine[] = [];
  for (const repository of repositories) {
    const tag = representativeTag(repository.tags);
    if (!tag) continue;
    const image = `${repository.target}:${tag}`;
    lines.push(
      { tool: 'JupyterHub (KubeSpawner)', file: 'jupyterhub_config.py', line: `c.KubeSpawner.image = "${image}"` },
      { tool: 'JupyterHub (DockerSpawner)', file: 'jupyterhub_config.py', line: `c.DockerSpawner.image = "${image}"` },
      { tool: 'Zero to JupyterHub (Helm chart)', file: 'config.yaml', line: `singleuser: { image: { name: "${repository.target}", tag: "${tag}" } }` },
      // the variable Terraform modules for JupyterHub deployments name the single-user image by
      { tool: 'JupyterHub (Terraform variables)', file: 'terraform.tfvars', line: `singleuser_image_name = "${repository.target}"` },
      { tool: 'Nextflow', file: 'nextflow.config', line: `process.container = '${image}'` },
    );
  }
  if (from.prefix === to.prefix && from.prefix !== '') {
    lines.push({ tool: 'Nextflow', file: 'nextflow.config', line: `docker.registry = '${to.registry}'` });
  }
  const old = `${from.registry}${from.prefix ? `/${from.prefix}` : ''}/`;
  const now = `${to.registry}${to.prefix ? `/${to.prefix}` : ''}/`;
  lines.push({ tool: 'any text file (Snakemake, WDL, CWL, Dockerfile)', file: 'FILES…', line: `sed -i.bak 's#${old}#${now}#g' FILES…` });
  return lines;
}

/** When the source is a public registry Berth's pull-through has a preset for, the rule that would serve it instead. */
export function pullThroughHint(from: Location, to: Location, repositories: MigratedRepository[]): PullThroughHint | undefined {
  const preset = pullThroughPresets[from.registry];
  if (!preset) return undefined;
  const workspace = to.prefix.split('/')[0] || '<workspace>';
  const first = repositories[0];
  const path = first ? first.source.slice(from.registry.length + 1) : `${from.prefix || 'PATH'}/NAME`;
  const tag = first ? (representativeTag(first.tags) ?? 'latest') : 'latest';
  return {
    upstream: preset.preset,
    command: `berth registry cache-rules create ${preset.prefix} ${preset.preset} --workspace ${workspace}`,
    example: `${to.registry}/${workspace}/${preset.prefix}/${path}:${tag}`,
    note: `${from.registry} can be served by a pull-through cache rule: images are fetched on first pull and kept up to date, with nothing to copy now (if ${to.registry} is a Berth)`,
  };
}
