import type { StudiosConfig } from '../../config/schema.ts';
import type { Workspace } from '../../identity/identity-store.ts';

/** A workspace asked for Studios while `studios.allowedWorkspaces` leaves it out (the API answers 403 STUDIOS_DISABLED). */
export class StudiosDisabledError extends Error {
  readonly code = 'STUDIOS_DISABLED';
  constructor(readonly workspace: string) {
    super(`Studios are not enabled for workspace "${workspace}": add it to studios.allowedWorkspaces`);
    this.name = 'StudiosDisabledError';
  }
}

/**
 * Which workspaces may use Studios, from `studios.allowedWorkspaces`: `[]` none (the default), a list of
 * workspace slugs or ids, `null` all.
 */
export class StudiosAccess {
  private readonly allowed: ReadonlySet<string> | 'all';

  constructor(config: Pick<StudiosConfig, 'allowedWorkspaces'>) {
    this.allowed = config.allowedWorkspaces === null ? 'all' : new Set(config.allowedWorkspaces);
  }

  allows(workspace: Pick<Workspace, 'id' | 'slug'>): boolean {
    return this.allowed === 'all' || this.allowed.has(workspace.slug) || this.allowed.has(workspace.id);
  }

  /** Throws StudiosDisabledError (403 STUDIOS_DISABLED, naming the setting) unless `workspace` may use Studios. */
  require(workspace: Pick<Workspace, 'id' | 'slug'>): void {
    if (!this.allows(workspace)) throw new StudiosDisabledError(workspace.slug);
  }
}
