import type { Digest } from '../../registry/digest.ts';
import { AugmentError } from './augment-errors.ts';

/** What an augmentation sets in the image's run configuration; absent fields keep the base's values. */
export interface ConfigChanges {
  /** `KEY=VALUE` entries: a key the base sets is replaced in place, a new key is appended. */
  env?: string[];
  /** Replaces the entrypoint (exec form); `[]` clears it. The base's cmd is kept unless `cmd` is given. */
  entrypoint?: string[];
  /** Replaces the default arguments (exec form); `[]` clears them. */
  cmd?: string[];
  /** An absolute path. */
  workdir?: string;
  /** Merged into the base's labels. */
  labels?: Record<string, string>;
}

/** A layer as the config sees it: its uncompressed digest, and the blob it came from (for history). */
export interface AddedLayer {
  digest: Digest;
  diffId: Digest;
}

/** An image config (image-spec config.md / Docker's image JSON): only the fields augmentation touches are typed. */
export type ImageConfig = Record<string, unknown> & {
  config?: Record<string, unknown> | null;
  rootfs?: { type?: string; diff_ids?: unknown };
  history?: unknown;
};

const envKey = /^[^=\s]+$/;

/** Checks the changes before anything is written. Throws AugmentError('InvalidRequest') naming the first problem. */
export function validateChanges(changes: ConfigChanges): void {
  for (const entry of changes.env ?? []) envPair(entry);
  if (changes.workdir !== undefined && !changes.workdir.startsWith('/')) {
    throw new AugmentError('InvalidRequest', `workdir "${changes.workdir.slice(0, 200)}" must be an absolute path`);
  }
  for (const key of Object.keys(changes.labels ?? {})) {
    if (key === '') throw new AugmentError('InvalidRequest', 'a label needs a non-empty key');
  }
}

/** Whether the changes set anything in the run configuration (layers aside). */
export function changesConfig(changes: ConfigChanges): boolean {
  return Boolean(changes.env?.length || changes.entrypoint || changes.cmd || changes.workdir !== undefined || Object.keys(changes.labels ?? {}).length);
}

/**
 * The base config with `layers` appended to `rootfs.diff_ids`, the changes applied and one history
 * entry per layer (plus one empty-layer entry for the configuration changes) saying berth augment
 * made them. Everything else (platform, other run settings, unknown fields) is kept as it was.
 * Throws AugmentError('Unsupported') when the base config has no `rootfs.diff_ids`.
 */
export function augmentConfig(base: ImageConfig, layers: AddedLayer[], changes: ConfigChanges, created: string): ImageConfig {
  const diffIds = base.rootfs?.diff_ids;
  if (!Array.isArray(diffIds)) throw new AugmentError('Unsupported', 'the base image config has no rootfs.diff_ids');
  const run: Record<string, unknown> = { ...(base.config ?? {}) };
  if (changes.env?.length) run.Env = mergeEnv(asStrings(run.Env), changes.env);
  if (changes.entrypoint) run.Entrypoint = changes.entrypoint;
  if (changes.cmd) run.Cmd = changes.cmd;
  if (changes.workdir !== undefined) run.WorkingDir = changes.workdir;
  if (changes.labels && Object.keys(changes.labels).length) run.Labels = { ...(isRecord(run.Labels) ? run.Labels : {}), ...changes.labels };

  const augmented: ImageConfig = {
    ...base,
    created,
    config: run,
    rootfs: { ...base.rootfs, type: 'layers', diff_ids: [...diffIds, ...layers.map((layer) => layer.diffId)] },
  };
  // History is optional; adding entries to an image without any would make its count disagree with the layers.
  if (Array.isArray(base.history)) augmented.history = [...base.history, ...historyEntries(layers, changes, created)];
  return augmented;
}

/** `KEY=VALUE` split at the first `=`. Throws AugmentError('InvalidRequest'). */
export function envPair(entry: string): [key: string, value: string] {
  const equals = entry.indexOf('=');
  const key = equals > 0 ? entry.slice(0, equals) : '';
  if (!envKey.test(key)) {
    throw new AugmentError('InvalidRequest', `env entry "${entry.slice(0, 200)}" must look like KEY=VALUE (a non-empty key without spaces, then =)`);
  }
  return [key, entry.slice(equals + 1)];
}

/** The base's entries with same-key entries replaced in place and new keys appended in request order (last one wins). */
function mergeEnv(base: string[], changes: string[]): string[] {
  const merged = new Map<string, string>();
  for (const entry of base) {
    const equals = entry.indexOf('=');
    merged.set(equals >= 0 ? entry.slice(0, equals) : entry, entry);
  }
  for (const entry of changes) merged.set(envPair(entry)[0], entry);
  return [...merged.values()];
}

function historyEntries(layers: AddedLayer[], changes: ConfigChanges, created: string): Array<Record<string, unknown>> {
  const entries: Array<Record<string, unknown>> = layers.map((layer) => ({ created, created_by: `berth augment: add layer ${layer.digest}` }));
  const settings = [
    changes.env?.length ? `env ${changes.env.map((entry) => envPair(entry)[0]).join(',')}` : '',
    changes.entrypoint ? 'entrypoint' : '',
    changes.cmd ? 'cmd' : '',
    changes.workdir !== undefined ? `workdir ${changes.workdir}` : '',
    Object.keys(changes.labels ?? {}).length ? `labels ${Object.keys(changes.labels!).join(',')}` : '',
  ].filter(Boolean);
  // Values are left out: env values may be secrets, and history is visible to everyone who can pull.
  if (settings.length) entries.push({ created, created_by: `berth augment: set ${settings.join('; ')}`, empty_layer: true });
  return entries;
}

function asStrings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
