import { z } from 'zod';
import { buildCallerOf } from '../builder/builds/build-access.ts';
import { EnvironmentFileError, parseEnvironmentFile } from '../builder/conda/environment-file.ts';
import type { ConnectSessions } from '../connect/connect-sessions.ts';
import type { StudioRouting } from '../connect/proxy/studio-routing.ts';
import { externalBase } from '../http/request-base.ts';
import type { IdentityStore, User, Workspace } from '../identity/identity-store.ts';
import { roleAtLeast, type Role } from '../identity/roles.ts';
import type { SessionBuilds } from '../studios/sessions/session-builds.ts';
import type { SessionController, StudioChange } from '../studios/sessions/session-controller.ts';
import { studioStatuses, type StudioStatus } from '../studios/sessions/session-status.ts';
import { StudioConflict, type Studio, type StudioDefinition, type StudioStore } from '../studios/sessions/studio-store.ts';
import type { StudiosAccess } from '../studios/workspaces/studios-access.ts';
import { ApiError, readJson, sendJson, type ApiContext } from './api-context.ts';
import type { ApiRoute } from './api-face.ts';

/** A template as a studio shows it. */
export interface StudioTemplateView {
  repository: string;
  icon: string;
  status: string;
  tool: string;
}

/** What the studio routes need of the template catalog and the compute environments. */
export interface StudioCatalog {
  /** The template of a key, or of an image (a template's repository with a version tag); undefined for a custom image. */
  template(keyOrImage: string): { key: string; image: string; view: StudioTemplateView } | undefined;
  /** A workspace's compute environment by id or name; the workspace's default (first AVAILABLE) when `idOrName` is undefined. */
  computeEnv(workspaceId: string, idOrName: string | undefined): Promise<{ id: string; name: string; platform: string } | undefined>;
  computeEnvById(id: string): Promise<{ id: string; name: string; platform: string } | undefined>;
  /** The workspace's Studios settings that shape a new studio. */
  privateByDefault(workspace: Workspace): Promise<boolean>;
}

const reservedVariable = /^(BERTH_|CONNECT_)/;
const configuration = z
  .object({
    cpu: z.number().positive().max(256).optional(),
    memory: z.number().int().min(64).max(4 * 1024 * 1024).optional().describe('MiB'),
    gpu: z.number().int().min(0).max(16).optional(),
    condaEnvironment: z.string().max(2048, 'must be at most 2048 characters').nullable().optional(),
    environment: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'variable names are letters, digits and _').refine((name) => !reservedVariable.test(name), 'BERTH_* and CONNECT_* are set by Berth'), z.string().max(8192))
      .optional(),
    mountData: z.array(z.string().min(1).max(1024)).max(50).optional(),
    lifespanHours: z.number().min(0).max(8_760).nullable().optional(),
  })
  .strict();
const remoteConfig = z
  .object({ repository: z.string().min(1).max(2048), revision: z.string().min(1).max(255).optional(), credentialsId: z.string().min(1).max(512).optional() })
  .strict();
const studioName = z.string().min(1).max(80).regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]*$/, 'use letters, digits, spaces, ".", "_" and "-", starting with a letter or digit');
const creation = z
  .object({
    name: studioName,
    description: z.string().max(2000).nullable().optional(),
    templateKey: z.string().min(1).max(40).optional(),
    dataStudioToolUrl: z.string().min(1).max(512).regex(/^[^\s]+$/, 'must be an image reference').optional(),
    computeEnvId: z.string().min(1).max(128).optional(),
    remoteConfig: remoteConfig.optional(),
    configuration: configuration.optional(),
    isPrivate: z.boolean().optional(),
    labels: z.array(z.string().min(1).max(64)).max(25).optional(),
  })
  .strict();
const update = creation.partial().strict();
const lifespan = z.object({ lifespanHours: z.number().min(0).max(8_760) }).strict();

const defaults = { cpu: 2, memory: 8192, gpu: 0 };

/**
 * `/api/studios`, shaped like Seqera Platform's Studios API: studios are saved definitions addressed by their
 * session id; start/stop move their session through the state machine; events stream its progress.
 * Reading takes the view role, creating and starting launch (a private studio: only its creator), deleting
 * and changing someone else's studio maintain.
 */
export function studioRoutes(deps: {
  store: StudioStore;
  controller: SessionController;
  builds: SessionBuilds;
  sessions: ConnectSessions;
  identity: IdentityStore;
  routing: StudioRouting;
  access: StudiosAccess;
  catalog: StudioCatalog;
  publicUrl: string | undefined;
}): ApiRoute[] {
  const { store, controller, identity, catalog } = deps;

  const workspaceOf = async (ctx: ApiContext, minimum: Role): Promise<Workspace> => {
    const reference = ctx.url.searchParams.get('workspaceId') ?? ctx.caller.user.name;
    const workspace = (await identity.findWorkspace(reference)) ?? (await identity.findWorkspaceById(reference));
    const role = workspace && (ctx.caller.user.isAdmin ? 'owner' : await identity.roleOf(ctx.caller.user.id, workspace.id));
    if (!workspace || !role) throw new ApiError(404, 'NOT_FOUND', `no workspace "${reference.slice(0, 64)}"`);
    deps.access.require(workspace);
    if (!roleAtLeast(role, minimum)) throw new ApiError(403, 'FORBIDDEN', `this takes the ${minimum} role in workspace ${workspace.slug}`);
    return workspace;
  };

  /** The studio of the path, if the caller may see it (a private one: its creator only; 404 otherwise, so ids do not leak). */
  const visibleStudio = async (ctx: ApiContext): Promise<{ studio: Studio; workspace: Workspace; role: Role }> => {
    const studio = await store.find(ctx.params[0]!);
    const workspace = studio && (await identity.findWorkspaceById(studio.workspaceId));
    const role = workspace && (ctx.caller.user.isAdmin ? 'owner' : await identity.roleOf(ctx.caller.user.id, workspace.id));
    if (!studio || !workspace || !role || !mayView(studio, ctx.caller.user)) throw new ApiError(404, 'NOT_FOUND', `no studio ${ctx.params[0]!.slice(0, 64)}`);
    deps.access.require(workspace);
    return { studio, workspace, role };
  };

  const requireRights = (studio: Studio, user: User, role: Role, action: string, minimum: Role) => {
    if (studio.definition.isPrivate && studio.userId !== user.id) throw new ApiError(403, 'FORBIDDEN', `studio ${studio.name} is private: only its creator may ${action} it`);
    const own = studio.userId === user.id;
    if (!roleAtLeast(role, own ? minimum : 'maintain')) throw new ApiError(403, 'FORBIDDEN', `to ${action} ${own ? 'a studio' : "someone else's studio"} takes the ${own ? minimum : 'maintain'} role`);
  };

  const view = async (ctx: ApiContext, studio: Studio): Promise<Record<string, unknown>> => {
    const owner = await identity.findUserById(studio.userId);
    const compute = studio.computeEnvId ? await catalog.computeEnvById(studio.computeEnvId) : undefined;
    const template = catalog.template(studio.definition.templateKey ?? studio.definition.image ?? '');
    const events = studio.lastStartedAt ? await store.events(studio.sessionId, studio.lastStartedAt) : [];
    const { configuration: config } = studio.definition;
    return {
      sessionId: studio.sessionId,
      workspaceId: studio.workspaceId,
      user: { id: studio.userId, userName: owner?.name ?? null },
      name: studio.name,
      description: studio.description,
      studioUrl: deps.routing.studioUrl(studio.sessionId, deps.routing.platformBase(ctx.req)),
      computeEnv: compute ? { id: compute.id, name: compute.name, platform: compute.platform } : null,
      template: template?.view ?? { repository: studio.definition.image, icon: null, status: null, tool: 'custom' },
      configuration: { ...config },
      remoteConfig: studio.definition.remoteConfig,
      isPrivate: studio.definition.isPrivate,
      labels: studio.definition.labels,
      dateCreated: iso(studio.createdAt),
      lastUpdated: iso(studio.updatedAt),
      lastStarted: studio.lastStartedAt ? iso(studio.lastStartedAt) : null,
      effectiveLifespanHours: studio.run?.expiresAt ? Math.round(((studio.run.expiresAt - studio.run.startedAt) / 3_600_000) * 100) / 100 : null,
      expiresAt: studio.run?.expiresAt ? iso(studio.run.expiresAt) : null,
      statusInfo: statusInfoOf(studio),
      progress: events.map(({ step, status, message, at }) => ({ step, status, message, at: iso(at) })),
      buildId: studio.run?.buildId ?? null,
      image: studio.run?.image ?? studio.definition.image,
    };
  };

  const definitionOf = async (input: z.infer<typeof update>, workspace: Workspace, base: StudioDefinition | undefined): Promise<StudioDefinition> => {
    const config = { ...base?.configuration, ...input.configuration };
    if (config.condaEnvironment) validateConda(config.condaEnvironment);
    let templateKey = base?.templateKey ?? null;
    let image = base?.image ?? null;
    let remote = base?.remoteConfig ?? null;
    if (input.templateKey !== undefined || input.dataStudioToolUrl !== undefined || input.remoteConfig !== undefined) {
      const template = input.templateKey !== undefined ? catalog.template(input.templateKey) : input.dataStudioToolUrl ? catalog.template(input.dataStudioToolUrl) : undefined;
      if (input.templateKey !== undefined && !template) throw new ApiError(400, 'INVALID_REQUEST', `templateKey: no template "${input.templateKey}" (GET /api/studios/templates lists them)`);
      templateKey = template?.key ?? null;
      image = input.dataStudioToolUrl ?? template?.image ?? null;
      remote = input.remoteConfig ? { repository: input.remoteConfig.repository, revision: input.remoteConfig.revision ?? null, credentialsId: input.remoteConfig.credentialsId ?? null } : null;
      if (remote && (image || templateKey)) throw new ApiError(400, 'INVALID_REQUEST', 'remoteConfig: a studio from a repository takes its image from the repository; leave out templateKey and dataStudioToolUrl');
    }
    if (!image && !remote && !templateKey) throw new ApiError(400, 'INVALID_REQUEST', 'name a template (templateKey), an image (dataStudioToolUrl) or a git repository (remoteConfig)');
    return {
      templateKey,
      image,
      remoteConfig: remote,
      configuration: {
        cpu: config.cpu ?? defaults.cpu,
        memory: config.memory ?? defaults.memory,
        gpu: config.gpu ?? defaults.gpu,
        condaEnvironment: config.condaEnvironment ?? null,
        environment: config.environment ?? {},
        mountData: config.mountData ?? [],
        lifespanHours: config.lifespanHours ?? null,
      },
      isPrivate: input.isPrivate ?? base?.isPrivate ?? (await catalog.privateByDefault(workspace)),
      labels: input.labels ?? base?.labels ?? [],
    };
  };

  const computeEnvOf = async (workspace: Workspace, reference: string | undefined) => {
    const compute = await catalog.computeEnv(workspace.id, reference);
    if (!compute) {
      throw new ApiError(400, 'INVALID_REQUEST', reference ? `computeEnvId: no compute environment "${reference.slice(0, 128)}" in workspace ${workspace.slug}` : `workspace ${workspace.slug} has no available compute environment: add one (POST /api/compute-envs) or name one (computeEnvId)`);
    }
    return compute;
  };

  const start = async (ctx: ApiContext, studio: Studio) => {
    const host = new URL(externalBase(ctx.req, deps.publicUrl)).host;
    const caller = buildCallerOf(ctx.caller, host);
    return conflictsAs409(() =>
      controller.start(studio.sessionId, { userId: ctx.caller.user.id, credential: { kind: 'api-token', id: ctx.caller.token.id }, submitBuild: (latest) => deps.builds.submit(latest, caller) }),
    );
  };

  return [
    {
      method: 'POST',
      pattern: /^\/api\/studios$/,
      handler: async (ctx) => {
        const workspace = await workspaceOf(ctx, 'launch');
        const input = await readJson(ctx, creation);
        const definition = await definitionOf(input, workspace, undefined);
        const compute = await computeEnvOf(workspace, input.computeEnvId);
        const { session } = await deps.sessions.create({ workspace, user: ctx.caller.user, isPrivate: definition.isPrivate });
        let studio = await conflictsAs409(() =>
          store.create({ sessionId: session.id, workspaceId: workspace.id, userId: ctx.caller.user.id, name: input.name, description: input.description ?? null, definition, computeEnvId: compute.id }),
        ).catch(async (error) => {
          await deps.sessions.remove(session.id);
          throw error;
        });
        if (['1', 'true'].includes(ctx.url.searchParams.get('autoStart') ?? '')) {
          // a create whose start is refused changes nothing: the caller fixes the request and sends it again
          studio = await start(ctx, studio).catch(async (error) => {
            await store.delete(studio.sessionId);
            await deps.sessions.remove(studio.sessionId);
            throw error;
          });
        }
        sendJson(ctx.res, 200, { studio: await view(ctx, studio) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/studios$/,
      handler: async (ctx) => {
        const workspace = await workspaceOf(ctx, 'view');
        const params = ctx.url.searchParams;
        const status = params.get('status') ?? undefined;
        if (status && !studioStatuses.includes(status as StudioStatus)) throw new ApiError(400, 'INVALID_REQUEST', `status: one of ${studioStatuses.join(', ')}`);
        const userName = params.get('user');
        const user = userName ? await identity.findUser(userName) : undefined;
        if (userName && !user) return sendJson(ctx.res, 200, { studios: [], totalSize: 0 });
        const max = clampInt(params.get('max'), 50, 1, 1000);
        const offset = clampInt(params.get('offset'), 0, 0, Number.MAX_SAFE_INTEGER);
        const page = await store.list({ workspaceId: workspace.id, search: params.get('search') ?? undefined, status: status as StudioStatus | undefined, userId: user?.id, max, offset });
        const visible = page.studios.filter((studio) => mayView(studio, ctx.caller.user));
        sendJson(ctx.res, 200, { studios: await Promise.all(visible.map((studio) => view(ctx, studio))), totalSize: page.totalSize - (page.studios.length - visible.length) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/studios\/([a-z0-9]+)$/,
      handler: async (ctx) => sendJson(ctx.res, 200, { studio: await view(ctx, (await visibleStudio(ctx)).studio) }),
    },
    {
      method: 'PUT',
      pattern: /^\/api\/studios\/([a-z0-9]+)$/,
      handler: async (ctx) => {
        const { studio, workspace, role } = await visibleStudio(ctx);
        requireRights(studio, ctx.caller.user, role, 'change', 'launch');
        const input = await readJson(ctx, update);
        const definition = await definitionOf(input, workspace, studio.definition);
        const compute = input.computeEnvId !== undefined ? await computeEnvOf(workspace, input.computeEnvId) : undefined;
        await conflictsAs409(() => store.update(studio.sessionId, { name: input.name, description: input.description, definition, computeEnvId: compute?.id }));
        if (definition.isPrivate !== studio.definition.isPrivate) await deps.sessions.setPrivate(studio.sessionId, definition.isPrivate);
        sendJson(ctx.res, 200, { studio: await view(ctx, (await store.find(studio.sessionId))!) });
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/api\/studios\/([a-z0-9]+)$/,
      handler: async (ctx) => {
        const { studio, role } = await visibleStudio(ctx);
        requireRights(studio, ctx.caller.user, role, 'delete', 'launch');
        if (!['stopped', 'errored', 'buildFailed'].includes(studio.status)) {
          throw new ApiError(409, 'CONFLICT', `studio ${studio.name} is ${studio.status}: stop it before deleting it`);
        }
        await store.delete(studio.sessionId);
        await deps.sessions.remove(studio.sessionId);
        await controller.forget(studio);
        ctx.res.writeHead(204).end();
      },
    },
    {
      method: 'PUT',
      pattern: /^\/api\/studios\/([a-z0-9]+)\/start$/,
      handler: async (ctx) => {
        const { studio, role } = await visibleStudio(ctx);
        requireRights(studio, ctx.caller.user, role, 'start', 'launch');
        const started = await start(ctx, studio);
        sendJson(ctx.res, 200, { jobSubmitted: true, sessionId: started.sessionId, statusInfo: statusInfoOf(started) });
      },
    },
    {
      method: 'PUT',
      pattern: /^\/api\/studios\/([a-z0-9]+)\/stop$/,
      handler: async (ctx) => {
        const { studio, role } = await visibleStudio(ctx);
        requireRights(studio, ctx.caller.user, role, 'stop', 'launch');
        const stopped = await conflictsAs409(() => controller.stop(studio.sessionId));
        sendJson(ctx.res, 200, { jobSubmitted: stopped.status !== studio.status, sessionId: stopped.sessionId, statusInfo: statusInfoOf(stopped) });
      },
    },
    {
      method: 'POST',
      pattern: /^\/api\/studios\/([a-z0-9]+)\/lifespan$/,
      handler: async (ctx) => {
        const { studio, role } = await visibleStudio(ctx);
        requireRights(studio, ctx.caller.user, role, 'extend', 'launch');
        const input = await readJson(ctx, lifespan);
        sendJson(ctx.res, 200, { studio: await view(ctx, await conflictsAs409(() => controller.extendLifespan(studio.sessionId, input.lifespanHours))) });
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/studios\/([a-z0-9]+)\/logs$/,
      handler: async (ctx) => {
        const { studio, role } = await visibleStudio(ctx);
        requireRights(studio, ctx.caller.user, role, 'read the logs of', 'launch');
        ctx.res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end(await controller.logs(studio));
      },
    },
    {
      method: 'GET',
      pattern: /^\/api\/studios\/([a-z0-9]+)\/events$/,
      handler: async (ctx) => streamEvents(ctx, (await visibleStudio(ctx)).studio),
    },
  ];

  /** Server-sent events: the run's progress so far and the current status, then every change until the client leaves. */
  async function streamEvents(ctx: ApiContext, studio: Studio): Promise<void> {
    const { res } = ctx;
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    let lastSeq = 0;
    const onChange = (change: StudioChange) => {
      if (change.kind === 'status') return void send('status', statusInfoOf(change.studio));
      if (change.event.seq <= lastSeq) return;
      lastSeq = change.event.seq;
      const { step, status, message, at } = change.event;
      send('progress', { step, status, message, at: iso(at) });
    };
    const unsubscribe = controller.follow(studio.sessionId, onChange);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    const end = () => {
      unsubscribe();
      clearInterval(keepAlive);
    };
    // a client gone while the studio was being read has closed already: no 'close' event will come
    if (res.destroyed || ctx.req.socket.destroyed) return end();
    res.once('close', end);
    for (const event of studio.lastStartedAt ? await store.events(studio.sessionId, studio.lastStartedAt) : []) onChange({ kind: 'progress', event });
    send('status', statusInfoOf((await store.find(studio.sessionId)) ?? studio));
  }
}

function mayView(studio: Studio, user: User): boolean {
  return !studio.definition.isPrivate || studio.userId === user.id;
}

function statusInfoOf(studio: Studio): { status: StudioStatus; message: string | null; lastUpdate: string; stopReason: string | null } {
  return { status: studio.status, message: studio.statusMessage, lastUpdate: iso(studio.statusAt), stopReason: studio.stopReason };
}

function validateConda(text: string): void {
  try {
    parseEnvironmentFile(text);
  } catch (error) {
    if (error instanceof EnvironmentFileError) throw new ApiError(400, 'INVALID_REQUEST', `configuration.condaEnvironment: ${error.message}`);
    throw error;
  }
}

async function conflictsAs409<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StudioConflict) throw new ApiError(409, 'CONFLICT', error.message);
    throw error;
  }
}

function clampInt(raw: string | null, fallback: number, min: number, max: number): number {
  const value = raw === null ? fallback : Number(raw);
  return Number.isInteger(value) ? Math.min(Math.max(value, min), max) : fallback;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
