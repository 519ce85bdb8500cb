import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Digest } from '../digest.ts';
import { isRegistryError, RegistryError } from '../errors.ts';
import type { CreationTemplates } from '../management/creation-templates.ts';
import type { Credentials } from '../management/credentials.ts';
import { supportedManifestTypes } from '../manifest.ts';
import type { RepositoryName } from '../names.ts';
import { Registry, type Reference, type RegistryDeps } from '../registry.ts';
import type { ManifestRecord, Repository } from '../repository-index.ts';
import type { ByteRange } from '../storage/blob-store.ts';
import type { BlobFills } from './blob-fill.ts';
import type { CacheRule, CacheRules } from './cache-rules.ts';
import { upstreamRepository } from './cache-rules.ts';
import { UpstreamError, UpstreamNotFound } from './upstream-errors.ts';
import { UpstreamRegistry } from './upstream-registry.ts';

export interface PullThroughDeps {
  rules: CacheRules;
  credentials: Credentials;
  templates: CreationTemplates;
  fills: BlobFills;
  /** A cached tag is re-checked with its upstream at most this often (ECR: 24 h). */
  revalidateAfterMs: number;
  log: (line: string) => void;
}

/**
 * The registry with pull-through caches (ECR's pull-through cache rules): a pull under a rule's
 * prefix that misses locally is fetched from the upstream once, stored as it streams to the
 * client, and served locally afterwards. Tags are re-checked with the upstream (HEAD first) at
 * most once per `revalidateAfterMs`; when the upstream is down or rate-limits, or no longer has
 * the tag, the cached copy is served. Pushes under a rule's prefix are refused.
 */
export class PullThroughRegistry extends Registry {
  private readonly clients = new Map<string, { updatedAt: number; client: UpstreamRegistry }>();
  private readonly manifestFetches = new Map<string, Promise<ManifestRecord>>();

  constructor(
    deps: RegistryDeps,
    private readonly cache: PullThroughDeps,
  ) {
    super(deps);
  }

  /** An existing repository, or the cache repository a rule covers, created on first pull from its template. */
  override async existing(name: RepositoryName): Promise<Repository> {
    const found = await this.find(name);
    if (found) return found;
    const workspace = await this.workspaceOf(name);
    const match = await this.cache.rules.match(workspace.id, name.path);
    if (!match) return super.existing(name);
    const settings = await this.cache.templates.settingsFor(workspace.id, name.path, 'PULL_THROUGH_CACHE');
    return this.deps.index.ensure(workspace.id, name.path, { ...settings, upstreamRuleId: match.rule.id });
  }

  override async forPush(name: RepositoryName): Promise<Repository> {
    const workspace = await this.workspaceOf(name);
    const match = await this.cache.rules.match(workspace.id, name.path);
    if (match) {
      throw new RegistryError(
        'Denied',
        `${name.full} is a pull-through cache of ${match.rule.upstreamRegistryUrl}/${match.upstreamRepository}: pushes under the prefix '${match.rule.prefix}' are refused`,
        { name: name.full },
      );
    }
    return super.forPush(name);
  }

  override async manifest(repository: Repository, reference: Reference): Promise<ManifestRecord> {
    if (!repository.upstreamRuleId) return super.manifest(repository, reference);
    const local = await super.manifest(repository, reference).catch((error) => (isRegistryError(error, 'ManifestUnknown') ? undefined : Promise.reject(error)));
    if (local && 'digest' in reference) return local;
    if (local && 'tag' in reference && !(await this.isStale(repository, reference.tag))) return local;
    const key = `${repository.id}@${'tag' in reference ? reference.tag : reference.digest}`;
    const inFlight = this.manifestFetches.get(key);
    if (inFlight) return inFlight;
    const fetching = this.refresh(repository, reference, local).finally(() => this.manifestFetches.delete(key));
    this.manifestFetches.set(key, fetching);
    return fetching;
  }

  override async blobSize(repository: Repository, digest: Digest): Promise<number> {
    const linked = await this.deps.index.linkedBlob(repository.id, digest);
    if (linked || !repository.upstreamRuleId) return super.blobSize(repository, digest);
    const { size, body } = await this.fill(repository, digest);
    body.destroy(); // the fill goes on without this reader
    return size;
  }

  override async openBlob(repository: Repository, digest: Digest, range?: ByteRange): Promise<Readable> {
    const linked = await this.deps.index.linkedBlob(repository.id, digest);
    if (linked || !repository.upstreamRuleId) return super.openBlob(repository, digest, range);
    const { body } = await this.fill(repository, digest);
    return range ? Readable.from(slice(body, range)) : body;
  }

  override async sendBlob(repository: Repository, digest: Digest, sink: Writable, range: ByteRange | undefined, signal: AbortSignal): Promise<void> {
    const linked = await this.deps.index.linkedBlob(repository.id, digest);
    if (linked || !repository.upstreamRuleId) return super.sendBlob(repository, digest, sink, range, signal);
    const { body } = await this.fill(repository, digest);
    await pipeline(range ? Readable.from(slice(body, range)) : body, sink, { end: false, signal });
  }

  /** Asks the upstream about a manifest, stores what it says, and falls back to the cached copy. */
  private async refresh(repository: Repository, reference: Reference, local: ManifestRecord | undefined): Promise<ManifestRecord> {
    const { rule, client, upstreamName } = await this.upstream(repository);
    const ref = 'tag' in reference ? reference.tag : reference.digest;
    try {
      if (local && 'tag' in reference) {
        const head = await client.headManifest(upstreamName, ref, [...supportedManifestTypes]);
        if (head?.digest === local.digest) {
          await this.deps.index.markTagChecked(repository.id, reference.tag);
          return local;
        }
        if (!head) return this.keepCached(local, rule, `${upstreamName}:${ref} is gone upstream`);
      }
      const fetched = await client.getManifest(upstreamName, ref, [...supportedManifestTypes]);
      if (!fetched) throw new RegistryError('ManifestUnknown', `manifest ${ref} is unknown to ${rule.upstreamRegistryUrl}/${upstreamName}`, reference);
      await this.putManifest(repository, 'tag' in reference ? reference : { digest: fetched.digest }, fetched.bytes, fetched.mediaType);
      return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.bytes.length };
    } catch (error) {
      if (!(error instanceof UpstreamError) || error instanceof UpstreamNotFound) {
        if (error instanceof UpstreamNotFound) throw new RegistryError('ManifestUnknown', error.message, reference);
        throw error;
      }
      if (local) return this.keepCached(local, rule, error.message);
      throw new RegistryError('UpstreamUnavailable', `the upstream of this cache could not be reached and ${ref} is not cached: ${error.message}`);
    }
  }

  private keepCached(local: ManifestRecord, rule: CacheRule, why: string): ManifestRecord {
    this.cache.log(`pull-through ${rule.prefix}: serving cached ${local.digest} (${why})`);
    return local;
  }

  private async isStale(repository: Repository, tag: string): Promise<boolean> {
    const checkedAt = await this.deps.index.tagCheckedAt(repository.id, tag);
    return checkedAt === null || checkedAt === undefined || Date.now() - checkedAt >= this.cache.revalidateAfterMs;
  }

  private async fill(repository: Repository, digest: Digest): Promise<{ size: number; body: Readable }> {
    // Another repository may hold the bytes already: link them instead of downloading again.
    if (await this.deps.index.linkExisting(repository.id, digest)) {
      const size = await super.blobSize(repository, digest);
      return { size, body: await super.openBlob(repository, digest) };
    }
    const { client, upstreamName } = await this.upstream(repository);
    try {
      return await this.cache.fills.serve(
        digest,
        (signal) => client.getBlob(upstreamName, digest, signal),
        (size) => this.deps.index.recordBlob(repository.id, digest, size),
      );
    } catch (error) {
      if (error instanceof UpstreamNotFound) throw new RegistryError('BlobUnknown', `blob ${digest} is unknown upstream too`, { digest });
      if (error instanceof UpstreamError) throw new RegistryError('UpstreamUnavailable', `blob ${digest} is not cached and the upstream failed: ${error.message}`);
      throw error;
    }
  }

  /** The upstream client for a cache repository's rule (one per rule, rebuilt when the rule changes). */
  private async upstream(repository: Repository): Promise<{ rule: CacheRule; client: UpstreamRegistry; upstreamName: string }> {
    const rule = await this.cache.rules.byId(repository.upstreamRuleId!);
    if (!rule) throw new RegistryError('UpstreamUnavailable', `the pull-through cache rule of ${repository.name} was deleted`);
    const upstreamName = upstreamRepository(rule, repository.name.slice(rule.prefix.length + 1));
    const known = this.clients.get(rule.id);
    if (known && known.updatedAt === rule.updatedAt) return { rule, client: known.client, upstreamName };
    const credentials = rule.credentialName ? await this.cache.credentials.reveal(rule.workspaceId, rule.credentialName) : undefined;
    const client = new UpstreamRegistry({ url: rule.upstreamBase, credentials, userAgent: 'berth-pull-through' });
    this.clients.set(rule.id, { updatedAt: rule.updatedAt, client });
    return { rule, client, upstreamName };
  }
}

/** The inclusive `range` of a stream of bytes. */
async function* slice(body: AsyncIterable<Uint8Array>, range: ByteRange): AsyncIterable<Uint8Array> {
  let offset = 0;
  for await (const chunk of body) {
    const start = Math.max(range.start - offset, 0);
    const end = Math.min(range.end + 1 - offset, chunk.length);
    if (start < end) yield chunk.subarray(start, end);
    offset += chunk.length;
    if (offset > range.end) return;
  }
}
