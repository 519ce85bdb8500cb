import { z } from 'zod';
import type { StudiosConfig } from '../../config/schema.ts';
import type { Db } from '../../db/database.ts';
import { IdentityError } from '../../identity/errors.ts';
import type { Workspace } from '../../identity/identity-store.ts';
import { isValidName, splitRegistryHost } from '../../registry/names.ts';
import { nameStrategies, type NameStrategy } from '../../builder/builds/container-request.ts';


/** A workspace's Studios settings as stored: null (or false) where the workspace keeps the default. */
export interface StudioSettingsValues {
  /** Where images built for the workspace's studios go, `host/path` or `path`. */
  containerRepository: string | null;
  /** How long a session lives unless its studio says otherwise; 0 = no limit. */
  lifespanHours: number | null;
  /** New studios are private (only their creator may reach them) unless they say otherwise. */
  privateStudioByDefault: boolean;
  /** How the builder names the images of the workspace's studios (as Wave's `nameStrategy`); null leaves it to the builder. */
  nameStrategy: NameStrategy | null;
}

const maxLifespanHours = 8_760;
const hostPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** `host/path` (a registry host has a dot or a port, or is localhost) or `path`, without tag or digest. */
export function isRepositoryReference(value: string): boolean {
  const { registry, path } = splitRegistryHost(value);
  return (registry === undefined || hostPattern.test(registry)) && isValidName(path);
}

/**
 * A change of settings (PUT): fields left out stay as they are, null puts a field back to its default.
 * Unknown fields are refused so that a typo does not pass for a change.
 */
export const studioSettingsChange = z
  .object({
    containerRepository: z
      .string()
      .max(512)
      .refine(isRepositoryReference, 'must be a repository reference, host/path or path (lower-case, no tag or digest)')
      .nullable()
      .optional(),
    lifespanHours: z.number().min(0).max(maxLifespanHours).nullable().optional(),
    privateStudioByDefault: z.boolean().optional(),
    nameStrategy: z.enum(nameStrategies).nullable().optional(),
  })
  .strict();
export type StudioSettingsChange = z.infer<typeof studioSettingsChange>;

const defaults: StudioSettingsValues = { containerRepository: null, lifespanHours: null, privateStudioByDefault: false, nameStrategy: null };

/**
 * The Studios settings of each workspace (table workspace_settings, one JSON document per workspace). A
 * workspace without a row has the defaults; `effective` fills them in.
 */
export class StudioSettings {
  constructor(
    private readonly db: Db,
    private readonly config: Pick<StudiosConfig, 'defaultLifespanHours'>,
  ) {}

  /** What the workspace has set, null where it keeps the default. */
  async stored(workspaceId: string): Promise<StudioSettingsValues> {
    const row = await this.db.selectFrom('workspace_settings').select('studios').where('workspace_id', '=', workspaceId).executeTakeFirst();
    return row ? { ...defaults, ...pickKnown(JSON.parse(row.studios) as Partial<StudioSettingsValues>) } : { ...defaults };
  }

  /**
   * The settings a studio of `workspace` gets: its own, else the defaults — the workspace's repository in
   * Berth's own registry at `registryHost` (`<host>/<workspace>/studios`) and the server's lifespan.
   */
  async effective(workspace: Pick<Workspace, 'id' | 'slug'>, registryHost: string): Promise<StudioSettingsValues> {
    const stored = await this.stored(workspace.id);
    return {
      containerRepository: stored.containerRepository ?? `${registryHost}/${workspace.slug}/studios`,
      lifespanHours: stored.lifespanHours ?? this.config.defaultLifespanHours,
      privateStudioByDefault: stored.privateStudioByDefault,
      nameStrategy: stored.nameStrategy,
    };
  }

  /**
   * Applies a change and returns the stored settings. Invalid input is an IdentityError INVALID naming
   * the field, and changes nothing.
   */
  async update(workspaceId: string, change: StudioSettingsChange): Promise<StudioSettingsValues> {
    const parsed = studioSettingsChange.safeParse(change);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new IdentityError('INVALID', `${issue.path.join('.') || 'settings'}: ${issue.message}`);
    }
    return this.db.transaction().execute(async (tx) => {
      const row = await tx.selectFrom('workspace_settings').select('studios').where('workspace_id', '=', workspaceId).executeTakeFirst();
      const current = row ? pickKnown(JSON.parse(row.studios) as Partial<StudioSettingsValues>) : {};
      const next: StudioSettingsValues = { ...defaults, ...current, ...withoutUndefined(parsed.data) };
      const studios = JSON.stringify(next);
      const updatedAt = Date.now();
      await tx
        .insertInto('workspace_settings')
        .values({ workspace_id: workspaceId, studios, updated_at: updatedAt })
        .onConflict((oc) => oc.column('workspace_id').doUpdateSet({ studios, updated_at: updatedAt }))
        .execute();
      return next;
    });
  }
}

function pickKnown(value: Partial<StudioSettingsValues>): Partial<StudioSettingsValues> {
  const known: Partial<StudioSettingsValues> = {};
  for (const key of Object.keys(defaults) as Array<keyof StudioSettingsValues>) {
    if (value[key] !== undefined) Object.assign(known, { [key]: value[key] });
  }
  return known;
}

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
