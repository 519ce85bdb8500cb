import { z } from 'zod';
import type { BuilderConfig } from '../config/schema.ts';
import { externalBase } from '../http/request-base.ts';
import { streamText } from '../http/streaming.ts';
import type { IdentityStore } from '../identity/identity-store.ts';
import { buildCallerOf, buildView, mayCancelBuild, mayViewBuild, maxContainerRequestBytes } from '../builder/builds/build-access.ts';
import type { BuildLogs } from '../builder/builds/build-logs.ts';
import type { BuildService } from '../builder/builds/build-service.ts';
import type { BuildRecord } from '../builder/builds/build-store.ts';
import { ContainerRequestError, parseContainerRequest, type ContainerRequest } from '../builder/builds/container-request.ts';
import { repositoryContainerRequest, StudioRepositoryError } from '../builder/builds/studio-request.ts';
import { buildPlanLimitsOf } from '../builder/studio-config/studio-source.ts';
import type { Credentials } from '../registry/management/credentials.ts';
import { ApiError, readJson, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';
import { gitLogin, httpsRepository, memberWorkspace } from './git-sources.ts';

const remoteConfig = z
  .object({ repository: z.string().min(1).max(2048), revision: z.string().min(1).max(255).optional(), credential: z.string().min(1).max(512).optional() })
  .strict();
const submission = z.object({ workspace: z.string().min(1).max(64).optional(), remoteConfig: remoteConfig.optional() }).loose();
const studioOptions = z
  .object({
    containerPlatform: z.string().optional(),
    buildRepository: z.string().optional(),
    freeze: z.boolean().optional(),
    nameStrategy: z.string().optional(),
    workspace: z.string().optional(),
    remoteConfig,
  })
  .strict();

/**
 * Berth's own build API: the container request of Wave's API (plus `workspace`, whose `builds`
 * repository is the default target), the build records, their logs (followed live as text or as
 * server-sent events) and cancel.
 */
export function buildRoutes(deps: {
  builds: BuildService;
  logs: BuildLogs;
  identity: IdentityStore;
  credentials: Credentials;
  config: BuilderConfig;
  publicUrl: string | undefined;
  /** Where git checkouts are made. */
  workDir: string;
}): ApiRoute[] {
  const planLimits = buildPlanLimitsOf(deps.config);
  /** The container request of the body: Wave's attributes, or a studio repository to clone and plan. */
  const requestOf = async (ctx: ApiContext, body: z.infer<typeof submission>): Promise<ContainerRequest> => {
    if (!body.remoteConfig) return parseContainerRequest(body, deps.config);
    const { remoteConfig: remote, workspace: _workspace, ...options } = parseStudioOptions(body);
    const url = httpsRepository(remote.repository);
    const login = await gitLogin(deps.credentials, await memberWorkspace(deps.identity, ctx, body.workspace), url, remote.credential);
    try {
      return await repositoryContainerRequest({ url, revision: remote.revision, login, options, limits: { ...deps.config, ...planLimits }, workDir: deps.workDir });
    } catch (error) {
      if (error instanceof StudioRepositoryError) throw new ApiError(400, 'INVALID_STUDIO_REPOSITORY', error.message);
      throw error;
    }
  };
  const visible = async (ctx: ApiContext): Promise<BuildRecord> => {
    const record = await deps.builds.find(ctx.params[0]!);
    if (!record || !(await mayViewBuild(deps.identity, ctx.caller, record))) throw new ApiError(404, 'NOT_FOUND', `no build ${ctx.params[0]!.slice(0, 100)}`);
    return record;
  };
  return [
    {
      method: 'POST',
      pattern: /^\/api\/builds$/,
      handler: async (ctx) => {
        const body = await readJson(ctx, submission, maxContainerRequestBytes(deps.config));
        const workspace = body.workspace ?? ctx.caller.user.name;
        if (!ctx.caller.user.isAdmin && !(await deps.identity.roleOf(ctx.caller.user.id, (await deps.identity.requireWorkspace(workspace)).id))) {
          throw new ApiError(404, 'NOT_FOUND', `no workspace "${workspace}"`);
        }
        const host = new URL(externalBase(ctx.req, deps.publicUrl)).host;
        try {
          const response = await deps.builds.submit(await requestOf(ctx, body), buildCallerOf(ctx.caller, host), workspace);
          sendJson(ctx.res, 200, response);
        } catch (error) {
          if (error instanceof ContainerRequestError) throw new ApiError(400, 'INVALID_REQUEST', error.message);
          throw error;
        }
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/builds$/,
      handler: async (ctx) => {
        const max = Math.min(Number(ctx.url.searchParams.get('max') ?? 50) || 50, 1000);
        const offset = Math.max(Number(ctx.url.searchParams.get('offset') ?? 0) || 0, 0);
        const slug = ctx.url.searchParams.get('workspace');
        const scope = slug
          ? [(await deps.identity.requireWorkspace(slug)).id]
          : ctx.caller.user.isAdmin
            ? 'all'
            : (await deps.identity.workspacesOf(ctx.caller.user.id)).map((workspace) => workspace.id);
        const records = await deps.builds.list(scope, { max, offset });
        const shown = [];
        for (const record of records) if (await mayViewBuild(deps.identity, ctx.caller, record)) shown.push(buildView(record));
        sendJson(ctx.res, 200, { builds: shown });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/builds\/([^/]+)$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { build: buildView(await visible(ctx)) }),
    },
    {
      method: 'GET',
      pattern: /^\/api\/builds\/([^/]+)\/logs$/,
      handler: async (ctx) => {
        const record = await visible(ctx);
        const follow = ['1', 'true'].includes(ctx.url.searchParams.get('follow') ?? '');
        const events = (ctx.req.headers.accept ?? '').includes('text/event-stream');
        const closed = new AbortController();
        ctx.res.on('close', () => closed.abort());
        // 'building' too: the status changes a moment before the log opens.
        const queued = async () => ['pending', 'building'].includes((await deps.builds.find(record.id))?.status ?? '');
        const pieces = follow ? deps.logs.follow(record.id, closed.signal, queued) : oneShot(deps.logs.read(record.id));
        const final = async () => {
          const latest = (await deps.builds.find(record.id))!;
          return { event: 'end', data: { status: latest.status, digest: latest.digest, errorReport: latest.errorReport } };
        };
        await streamText(ctx.res, pieces, { events, final });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/builds\/([^/]+)\/cancel$/,
      handler: async (ctx) => {
        const record = await visible(ctx);
        if (!(await mayCancelBuild(deps.identity, ctx.caller, record))) throw new ApiError(403, 'FORBIDDEN', `you may not cancel build ${record.id}`);
        if (!(await deps.builds.cancel(record.id, ctx.caller.user.name))) throw new ApiError(409, 'CONFLICT', `build ${record.id} has already ended (${record.status})`);
        sendJson(ctx.res, 202, { build: buildView((await deps.builds.find(record.id))!) });
      },
    },
  ];
}

function parseStudioOptions(body: unknown): z.infer<typeof studioOptions> {
  const parsed = studioOptions.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new ApiError(400, 'INVALID_REQUEST', `${issue.path.join('.') || 'body'}: ${issue.message} (a request with remoteConfig takes only the build options)`);
}

async function* oneShot(content: Promise<Buffer>): AsyncGenerator<Buffer> {
  const all = await content;
  if (all.length) yield all;
}
