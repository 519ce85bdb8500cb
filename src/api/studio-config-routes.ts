import { z } from 'zod';
import { buildPlanLimitsOf, checkStudioConfigText, inspectStudioSource } from '../builder/studio-config/studio-source.ts';
import type { BuilderConfig } from '../config/schema.ts';
import type { IdentityStore } from '../identity/identity-store.ts';
import type { Credentials } from '../registry/management/credentials.ts';
import { ApiError, readJson, sendJson } from './api-context.ts';
import { gitLogin, httpsRepository, memberWorkspace } from './git-sources.ts';
import type { ApiRoute } from './api-face.ts';

const checkRequest = z
  .object({
    repository: z.string().min(1).max(2048).optional(),
    revision: z.string().min(1).max(255).optional(),
    credential: z.string().min(1).max(512).optional(),
    workspace: z.string().min(1).max(64).optional(),
    content: z.string().optional(),
  })
  .strict();

/** A clone for a check should not hold a request open for the 5 minutes a build's clone may take. */
const CHECK_CLONE_TIMEOUT_MS = 2 * 60_000;

/**
 * `POST /api/studio-config/check`: validates a Studio repository's `.seqera/studio-config.yaml` and plans its
 * build, answering what `berth studio-config check --json` prints — 200 with `ok: true|false` either way; 400 only
 * for a malformed request.
 *
 * - `{ "repository": "https://…", "revision"?, "credential"?, "workspace"? }` clones the repository; `credential`
 *   names a credential of `workspace` (default: the caller's personal workspace) whose secret is a GitHub token.
 *   Any member of the workspace may use its credentials for a check; the token goes to git only.
 * - `{ "content": "<yaml>" }` checks the text alone (the files it names are not looked at).
 *
 * Only `https://` repositories are accepted (see git-sources.ts).
 */
export function studioConfigRoutes(deps: {
  identity: IdentityStore;
  credentials: Credentials;
  builder: Pick<BuilderConfig, 'maxContextBytes' | 'maxContextFileBytes' | 'maxDockerfileBytes' | 'maxCondaFileBytes'>;
  /** Where checkouts are made (default: the OS temporary directory). */
  workDir?: string;
}): ApiRoute[] {
  const limits = buildPlanLimitsOf(deps.builder);
  return [
    {
      method: 'POST',
      pattern: /^\/api\/studio-config\/check$/,
      handler: async (ctx) => {
        const body = await readJson(ctx, checkRequest);
        if ((body.repository === undefined) === (body.content === undefined)) {
          throw invalid('give either `repository` (an https:// git URL) or `content` (the text of .seqera/studio-config.yaml)');
        }
        if (body.content !== undefined) {
          if (body.revision ?? body.credential ?? body.workspace) throw invalid('`revision`, `credential` and `workspace` go with `repository`, not with `content`');
          return sendJson(ctx.res, 200, checkStudioConfigText(body.content));
        }
        const url = httpsRepository(body.repository!);
        const workspace = body.workspace !== undefined || body.credential !== undefined ? await memberWorkspace(deps.identity, ctx, body.workspace) : null;
        const login = workspace ? await gitLogin(deps.credentials, workspace, url, body.credential) : { token: null, username: undefined };
        // A caller who goes away stops its clone.
        const cancel = new AbortController();
        ctx.res.once('close', () => cancel.abort());
        const result = await inspectStudioSource({
          url,
          revision: body.revision,
          token: login.token,
          username: login.username,
          limits,
          parentDir: deps.workDir,
          timeoutMs: CHECK_CLONE_TIMEOUT_MS,
          signal: cancel.signal,
        });
        sendJson(ctx.res, 200, result);
      },
    },
  ];
}

function invalid(message: string): ApiError {
  return new ApiError(400, 'INVALID_REQUEST', message);
}
