/** One entry of a token's `access` claim, as in the Docker registry token specification. */
export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export type RepositoryAction = 'pull' | 'push' | 'delete';
export const repositoryActions: readonly RepositoryAction[] = ['pull', 'push', 'delete'];

/**
 * Parses scope strings such as `repository:admin/tools/x:pull,push` or `registry:catalog:*`.
 * The type may carry a resource class (`repository(plugin)`), which is dropped. Malformed scopes
 * are skipped: they grant nothing.
 */
export function parseScopes(values: string[]): AccessEntry[] {
  const entries: AccessEntry[] = [];
  for (const value of values.flatMap((v) => v.split(' ')).filter(Boolean)) {
    const first = value.indexOf(':');
    const last = value.lastIndexOf(':');
    if (first < 0 || last === first) continue;
    const type = value.slice(0, first).replace(/\(.*\)$/, '');
    const name = value.slice(first + 1, last);
    const actions = value.slice(last + 1).split(',').filter(Boolean);
    if (type && name && actions.length) entries.push({ type, name, actions });
  }
  return entries;
}

export function formatScope(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}

export function grants(access: readonly AccessEntry[], type: string, name: string, action: string): boolean {
  return access.some((entry) => entry.type === type && entry.name === name && (entry.actions.includes(action) || entry.actions.includes('*')));
}
