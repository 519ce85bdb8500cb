import { ECRClient } from '@aws-sdk/client-ecr';
import type { IdentityStore, Workspace } from '../identity/identity-store.ts';
import { roleAtLeast } from '../identity/roles.ts';
import type { RegistryTokens } from '../registry/auth/registry-tokens.ts';
import { ecrLoginUser } from '../registry/auth/logins.ts';
import type { EcrFace } from '../registry/ecr/ecr-face.ts';
import { inProcessEcrHandler } from '../registry/ecr/in-process-handler.ts';
import type { Credentials } from '../registry/management/credentials.ts';
import { ToolboxError, withFaceDefaults, type RegistryLogin, type ToolboxContext, type ToolboxErrorCode, type ToolboxOperation } from '../toolbox/toolbox-operation.ts';
import { ApiError, readJson, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';
import { requireWorkspaceRole } from './org-routes.ts';

export interface ToolboxRouteDeps {
  identity: IdentityStore;
  operations: readonly ToolboxOperation[];
  ecr: EcrFace;
  tokens: RegistryTokens;
  credentials: Credentials;
  region: string;
  /** How long the registry login Berth makes for the caller lasts (enough for a long clone). */
  loginTtlS: number;
  /** `host:port` of this server's own listener, which is Berth's registry too. */
  internalHost: () => string;
  publicUrl?: string;
}

const statusOf: Record<ToolboxErrorCode, number> = {
  INVALID_INPUT: 400,
  NOT_FOUND: 404,
  // a registry refused the login Berth used; the API caller's own login was fine
  UNAUTHORIZED: 403,
  DENIED: 403,
  CONFLICT: 409,
  UNREACHABLE: 502,
  FAILED: 500,
};

/**
 * `POST /api/toolbox/<apiPath>` for every toolbox operation: the JSON body is the operation's input, the
 * answer its result. Operations run in Berth as the caller, in the workspace `?workspace=` names (default:
 * the caller's own; the view role at least): Berth's registry and ECR API with the caller's rights, other
 * registries with the workspace's container registry credentials (for maintain and above), and no access
 * to the server's files.
 */
export function toolboxRoutes(deps: ToolboxRouteDeps): ApiRoute[] {
  return deps.operations.map((operation) => ({
    method: 'POST',
    pattern: new RegExp(`^/api/toolbox/${operation.apiPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`),
    handler: async (ctx) => {
      const input = await readJson(ctx, operation.input);
      const workspace = await deps.identity.requireWorkspaceByRef(ctx.url.searchParams.get('workspace') || ctx.caller.user.name);
      const role = await requireWorkspaceRole(deps.identity, ctx, workspace, 'view', `use the toolbox (${operation.name})`);
      const aborted = new AbortController();
      ctx.res.once('close', () => ctx.res.writableEnded || aborted.abort(new Error('the client went away')));
      const context = serverContext(deps, ctx, workspace, ctx.caller.user.isAdmin || roleAtLeast(role, 'maintain'), aborted.signal);
      try {
        sendJson(ctx.res, 200, await operation.run(withFaceDefaults(operation, input, { workspace: workspace.slug }), context));
      } catch (error) {
        if (error instanceof ToolboxError) throw new ApiError(statusOf[error.code], error.code, error.message);
        throw error;
      }
    },
  }));
}

function serverContext(deps: ToolboxRouteDeps, ctx: ApiContext, workspace: Workspace, mayUseCredentials: boolean, signal: AbortSignal): ToolboxContext {
  const { user, token } = ctx.caller;
  // Never the request's Host header: operations fetch from the host the ECR API names, with the caller's login.
  const ownHost = deps.publicUrl ? hostOf(deps.publicUrl) : deps.internalHost();
  const ownHosts = new Set([deps.internalHost(), ownHost]);
  return {
    async registryLogin(host: string): Promise<RegistryLogin | undefined> {
      if (ownHosts.has(host)) {
        const password = await deps.tokens.issueEcrLogin({ userId: user.id, credential: { kind: 'api-token', id: token.id } }, user.name, deps.loginTtlS);
        return { username: ecrLoginUser, password };
      }
      return mayUseCredentials ? registryCredential(deps.credentials, workspace, host) : undefined;
    },
    ecrClient(target) {
      const targetWorkspace = target.workspace ?? workspace.slug;
      return new ECRClient({
        region: target.region ?? deps.region,
        endpoint: 'http://berth.invalid/ecr',
        credentials: { accessKeyId: 'berth-in-process', secretAccessKey: 'unused' },
        requestHandler: inProcessEcrHandler(deps.ecr, async () => ({
          user,
          workspace: await deps.identity.requireWorkspaceByRef(targetWorkspace),
          region: target.region ?? deps.region,
          host: ownHost,
          credential: { kind: 'api-token', id: token.id },
        })),
      });
    },
    progress: () => undefined,
    localFiles: false,
    signal,
  };
}

/** The workspace's container registry credential for `host`, revealed for Berth's own use only. */
async function registryCredential(credentials: Credentials, workspace: Workspace, host: string): Promise<RegistryLogin | undefined> {
  const record = (await credentials.records(workspace.id)).find((candidate) => candidate.provider === 'container-reg' && candidate.keys.registry === host);
  return record ? credentials.reveal(workspace.id, record.name) : undefined;
}

function hostOf(base: string): string {
  return new URL(base).host;
}
