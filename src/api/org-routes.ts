import { z } from 'zod';
import { externalBase } from '../http/request-base.ts';
import type { IdentityStore, Organization, User, Workspace } from '../identity/identity-store.ts';
import { roleAtLeast, roles, type Role } from '../identity/roles.ts';
import { studioSettingsChange, type StudioSettings } from '../studios/workspaces/studio-settings.ts';
import { ApiError, readJson, requireSystemAdmin, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';

const newOrganization = z.object({ name: z.string() }).strict();
/** `fullName` is taken as the shared API names it, but not kept yet: workspaces have no column for it. */
const newWorkspace = z.object({ name: z.string(), fullName: z.string().max(100).optional() }).strict();
const participantRole = z.object({ role: z.enum(roles) }).strict();
/** The settings' fields as they are, or in the `{"settings": {…}}` envelope GET answers with. */
const settingsRequest = z.preprocess(
  (body) => (body !== null && typeof body === 'object' && Object.keys(body).length === 1 && 'settings' in body ? body.settings : body),
  studioSettingsChange,
);

/**
 * The caller's role in `workspace` once it is at least `minimum` (system administrators pass with
 * whatever role they have); otherwise 403 saying what it takes.
 */
export async function requireWorkspaceRole(identity: IdentityStore, ctx: ApiContext, workspace: Workspace, minimum: Role, doing: string): Promise<Role | undefined> {
  const role = await identity.roleOf(ctx.caller.user.id, workspace.id);
  if (!ctx.caller.user.isAdmin && !roleAtLeast(role, minimum)) {
    throw new ApiError(403, 'FORBIDDEN', `${ctx.caller.user.name} may not ${doing} in workspace ${workspace.slug}: it takes the ${minimum} role or above`);
  }
  return role;
}

/** The organizations the caller may see: all for a system administrator, else those it has a workspace in. */
async function organizationsVisibleTo(identity: IdentityStore, ctx: ApiContext): Promise<Set<string> | 'all'> {
  if (ctx.caller.user.isAdmin) return 'all';
  const memberships = await identity.workspacesOf(ctx.caller.user.id);
  return new Set(memberships.flatMap((w) => (w.organizationId ? [w.organizationId] : [])));
}

/** An organization the caller may see; others answer as unknown, so that their names do not leak. */
async function visibleOrganization(identity: IdentityStore, ctx: ApiContext, ref: string): Promise<Organization> {
  const organization = await identity.findOrganization(ref);
  const visible = await organizationsVisibleTo(identity, ctx);
  if (!organization || (visible !== 'all' && !visible.has(organization.id))) throw new ApiError(404, 'NOT_FOUND', `no organization "${ref.slice(0, 100)}"`);
  return organization;
}

/** The organization `ref` names, once the caller may add workspaces to it: a system administrator, or an owner or admin of one of its workspaces. */
export async function organizationToAddWorkspaceTo(identity: IdentityStore, ctx: ApiContext, ref: string): Promise<Organization> {
  const organization = await visibleOrganization(identity, ctx, ref);
  const leads = (await identity.workspacesOf(ctx.caller.user.id)).some((w) => w.organizationId === organization.id && roleAtLeast(w.role, 'admin'));
  if (!ctx.caller.user.isAdmin && !leads) {
    throw new ApiError(403, 'FORBIDDEN', `only a system administrator or an owner or admin of a workspace of ${organization.name} may add workspaces to it`);
  }
  return organization;
}

/** The workspace `?workspaceId=` names, by id or slug; the caller's personal workspace when it names none. */
export async function workspaceOfRequest(identity: IdentityStore, ctx: ApiContext): Promise<Workspace> {
  return identity.requireWorkspaceByRef(ctx.url.searchParams.get('workspaceId') || ctx.caller.user.name);
}

function organizationView(organization: Organization) {
  return { orgId: organization.id, name: organization.name };
}

function workspaceView(workspace: Workspace, role: Role | null) {
  return { id: workspace.id, name: workspace.slug, orgId: workspace.organizationId, registryId: workspace.registryId, personal: workspace.personalUserId !== null, role };
}

function participantView(user: User, role: Role) {
  return { userId: user.id, userName: user.name, role };
}

/**
 * Organizations, their workspaces, members ("participants") and Studios settings. Organizations are
 * named by id or name, workspaces by id or slug. Only system administrators create organizations; a
 * workspace in one is created by a system administrator or an owner or admin of any of its workspaces.
 * Members and settings are answered under the organization's path and, for any workspace (personal ones
 * have no organization), under `/api/workspaces/{workspaceId}/…`.
 */
export function orgRoutes(deps: { identity: IdentityStore; settings: StudioSettings; publicUrl: string | undefined }): ApiRoute[] {
  const { identity, settings } = deps;

  const workspaceInOrganization = async (ctx: ApiContext, orgRef: string, workspaceRef: string): Promise<Workspace> => {
    const organization = await visibleOrganization(identity, ctx, orgRef);
    const workspace = await identity.findWorkspaceByRef(workspaceRef);
    if (!workspace || workspace.organizationId !== organization.id) {
      throw new ApiError(404, 'NOT_FOUND', `no workspace "${workspaceRef.slice(0, 100)}" in organization ${organization.name}`);
    }
    return workspace;
  };
  const registryHost = (ctx: ApiContext) => new URL(externalBase(ctx.req, deps.publicUrl)).host;

  /** One handler under both paths of a workspace: `/api/orgs/{orgId}/workspaces/{workspaceId}…` and `/api/workspaces/{workspaceId}…`. */
  const perWorkspace = (method: ApiRoute['method'], suffix: string, handler: (ctx: ApiContext, workspace: Workspace, rest: string[]) => Promise<void>): ApiRoute[] => [
    {
      method,
      pattern: new RegExp(`^/api/orgs/([^/]+)/workspaces/([^/]+)${suffix}$`),
      handler: async (ctx) => handler(ctx, await workspaceInOrganization(ctx, ctx.params[0]!, ctx.params[1]!), ctx.params.slice(2)),
    },
    {
      method,
      pattern: new RegExp(`^/api/workspaces/([^/]+)${suffix}$`),
      handler: async (ctx) => handler(ctx, await identity.requireWorkspaceByRef(ctx.params[0]!), ctx.params.slice(1)),
    },
  ];

  /**
   * Owners are kept by owners: only an owner (or a system administrator) grants or takes away the owner
   * role, a workspace keeps at least one owner, and a personal workspace keeps its user as owner.
   */
  const checkOwnership = async (ctx: ApiContext, workspace: Workspace, callerRole: Role | undefined, user: User, next: Role | undefined) => {
    const current = await identity.roleOf(user.id, workspace.id);
    if (next !== 'owner' && current !== 'owner') return;
    if (!ctx.caller.user.isAdmin && callerRole !== 'owner') {
      throw new ApiError(403, 'FORBIDDEN', `only an owner of ${workspace.slug} may grant or take away the owner role`);
    }
    if (current !== 'owner' || next === 'owner') return;
    if (workspace.personalUserId === user.id) throw new ApiError(409, 'CONFLICT', `${workspace.slug} is ${user.name}'s personal workspace: ${user.name} stays its owner`);
    const owners = (await identity.membersOf(workspace.id)).filter((member) => member.role === 'owner');
    if (owners.length <= 1) throw new ApiError(409, 'CONFLICT', `${user.name} is the last owner of ${workspace.slug}: make someone else owner first`);
  };

  return [
    {
      method: 'GET',
      pattern: /^\/api\/orgs$/,
      handler: async (ctx) => {
        const visible = await organizationsVisibleTo(identity, ctx);
        const organizations = (await identity.listOrganizations()).filter((o) => visible === 'all' || visible.has(o.id));
        sendJson(ctx.res, 200, { organizations: organizations.map(organizationView) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/orgs$/,
      handler: async (ctx) => {
        requireSystemAdmin(ctx);
        const body = await readJson(ctx, newOrganization);
        sendJson(ctx.res, 201, { organization: organizationView(await identity.createOrganization(body.name)) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/orgs\/([^/]+)$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { organization: organizationView(await visibleOrganization(identity, ctx, ctx.params[0]!)) }),
    },
    {
      method: 'GET',
      pattern: /^\/api\/orgs\/([^/]+)\/workspaces$/,
      handler: async (ctx) => {
        const organization = await visibleOrganization(identity, ctx, ctx.params[0]!);
        const mine = new Map((await identity.workspacesOf(ctx.caller.user.id)).map((w) => [w.id, w.role]));
        const workspaces = (await identity.workspacesInOrganization(organization.id)).filter((w) => ctx.caller.user.isAdmin || mine.has(w.id));
        sendJson(ctx.res, 200, { workspaces: workspaces.map((w) => workspaceView(w, mine.get(w.id) ?? null)) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/orgs\/([^/]+)\/workspaces$/,
      handler: async (ctx) => {
        const organization = await organizationToAddWorkspaceTo(identity, ctx, ctx.params[0]!);
        const body = await readJson(ctx, newWorkspace);
        const workspace = await identity.createWorkspace({ slug: body.name, organization: organization.name, owner: ctx.caller.user });
        sendJson(ctx.res, 201, { workspace: workspaceView(workspace, 'owner') });
      },
    },
    ...perWorkspace('GET', '/participants', async (ctx, workspace) => {
      await requireWorkspaceRole(identity, ctx, workspace, 'view', 'see its members');
      const members = await identity.membersOf(workspace.id);
      sendJson(ctx.res, 200, { participants: members.map((m) => participantView(m.user, m.role)) });
    }),
    ...perWorkspace('PUT', '/participants/([^/]+)', async (ctx, workspace, [userName]) => {
      const callerRole = await requireWorkspaceRole(identity, ctx, workspace, 'admin', 'manage its members');
      const user = await identity.requireUser(userName!);
      const { role } = await readJson(ctx, participantRole);
      await checkOwnership(ctx, workspace, callerRole, user, role);
      await identity.setRole(workspace.id, user.id, role);
      sendJson(ctx.res, 200, { participant: participantView(user, role) });
    }),
    ...perWorkspace('DELETE', '/participants/([^/]+)', async (ctx, workspace, [userName]) => {
      const callerRole = await requireWorkspaceRole(identity, ctx, workspace, 'admin', 'manage its members');
      const user = await identity.requireUser(userName!);
      await checkOwnership(ctx, workspace, callerRole, user, undefined);
      await identity.setRole(workspace.id, user.id, undefined);
      ctx.res.writeHead(204).end();
    }),
    ...perWorkspace('GET', '/settings/studios', async (ctx, workspace) => {
      await requireWorkspaceRole(identity, ctx, workspace, 'view', 'see its settings');
      sendJson(ctx.res, 200, { settings: await settings.effective(workspace, registryHost(ctx)) });
    }),
    ...perWorkspace('PUT', '/settings/studios', async (ctx, workspace) => {
      await requireWorkspaceRole(identity, ctx, workspace, 'admin', 'change its settings');
      const change = await readJson(ctx, settingsRequest);
      await settings.update(workspace.id, change);
      sendJson(ctx.res, 200, { settings: await settings.effective(workspace, registryHost(ctx)) });
    }),
  ];
}
