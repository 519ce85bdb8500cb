/** Workspace roles, weakest first. Each role can do everything the ones before it can. */
export const roles = ['view', 'launch', 'maintain', 'admin', 'owner'] as const;
export type Role = (typeof roles)[number];

export function roleAtLeast(role: Role | undefined, minimum: Role): boolean {
  return role !== undefined && roles.indexOf(role) >= roles.indexOf(minimum);
}
