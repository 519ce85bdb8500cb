import { z } from 'zod';
import type { IdentityStore } from '../identity/identity-store.ts';
import { roleAtLeast } from '../identity/roles.ts';
import type { DoctorCaller, DoctorDeps } from '../toolbox/doctor/doctor-deps.ts';
import { runDoctor } from '../toolbox/doctor/run-doctor.ts';
import { readJson, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';
import { requireWorkspaceRole } from './org-routes.ts';

const doctorRequest = z
  .object({ workspace: z.string().min(1).max(128).optional().describe("the workspace to check, by slug or id (default: the caller's own)") })
  .strict();

/**
 * `POST /api/toolbox/doctor {workspace?}` → `{workspace, checks, summary, ok}`: the doctor's checklist of a
 * workspace (default: the caller's own), for callers with the view role or above there. Checks show
 * another workspace's repository policy only to those who may read it, and never a secret.
 * (`POST /api/toolbox/doctor/explain` is the generic toolbox face's, from doctorOperations.)
 */
export function doctorRoutes(deps: { identity: IdentityStore; doctor: DoctorDeps }): ApiRoute[] {
  const { identity } = deps;
  return [
    {
      method: 'POST',
      pattern: /^\/api\/toolbox\/doctor$/,
      handler: async (ctx) => {
        const { workspace: reference } = await readJson(ctx, doctorRequest);
        const workspace = await identity.requireWorkspaceByRef(reference || ctx.url.searchParams.get('workspace') || ctx.caller.user.name);
        await requireWorkspaceRole(identity, ctx, workspace, 'view', 'run the doctor');
        sendJson(ctx.res, 200, await runDoctor(deps.doctor, { workspace, caller: callerOf(identity, ctx) }));
      },
    },
  ];
}

function callerOf(identity: IdentityStore, ctx: ApiContext): DoctorCaller {
  const { user } = ctx.caller;
  return {
    userId: user.id,
    isAdmin: user.isAdmin,
    mayView: async (workspaceId) => user.isAdmin || roleAtLeast(await identity.roleOf(user.id, workspaceId), 'view'),
  };
}
