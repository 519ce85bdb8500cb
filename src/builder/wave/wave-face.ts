import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLarge, readCapped } from '../../http/body.ts';
import { sendJson } from '../../http/json.ts';
import { externalBase } from '../../http/request-base.ts';
import { apiLogin, type ApiLoginFailure } from '../../identity/api-login.ts';
import type { Authenticated, IdentityStore } from '../../identity/identity-store.ts';
import { isRegistryError } from '../../registry/errors.ts';
import { extractCondaLock } from '../conda/conda-dockerfile.ts';
import { buildCallerOf, mayViewBuild, maxContainerRequestBytes } from '../builds/build-access.ts';
import type { BuildLogs } from '../builds/build-logs.ts';
import type { BuildService, ContainerResponse } from '../builds/build-service.ts';
import { isFinished, type BuildRecord } from '../builds/build-store.ts';
import { ContainerRequestError, parseContainerRequest, type RequestLimits } from '../builds/container-request.ts';

/** A failure in Wave's shape: an HTTP status and `{"message": …}`. */
class WaveError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The subset of Seqera Wave's API that builds images: `POST /v1alpha2/container` and the build record,
 * status, log and conda lock under `/v1alpha1/builds/{id}`. Callers authenticate with a Berth API token
 * (`Authorization: Bearer`, or `towerAccessToken` in the request as Wave's clients send it).
 */
export class WaveFace {
  constructor(
    private readonly deps: {
      builds: BuildService;
      logs: BuildLogs;
      identity: IdentityStore;
      limits: RequestLimits & { maxContextBytes: number };
      publicUrl: string | undefined;
    },
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = new URL(req.url ?? '/', 'http://wave.invalid').pathname;
      if (req.method === 'POST' && (path === '/v1alpha2/container' || path === '/container-token')) return await this.submit(req, res);
      const match = /^\/v1alpha1\/builds\/([^/]+)(\/status|\/logs|\/condalock)?$/.exec(path);
      if (req.method === 'GET' && match) return await this.describe(req, res, match[1]!, match[2]);
      throw new WaveError(404, 'Not found');
    } catch (error) {
      if (!req.complete) req.resume();
      const wave = toWaveError(error);
      if (!wave) throw error;
      sendJson(res, wave.status, { message: wave.message });
    }
  }

  private async submit(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A caller with an Authorization header is checked before its (large) body is read.
    const early = req.headers.authorization ? await this.authenticate(req, undefined) : undefined;
    const body = parseBody(await readCapped(req, maxContainerRequestBytes(this.deps.limits)));
    const caller = early ?? (await this.authenticate(req, typeof body.towerAccessToken === 'string' ? body.towerAccessToken : undefined));
    const request = parseContainerRequest(body, this.deps.limits);
    const host = new URL(externalBase(req, this.deps.publicUrl)).host;
    sendJson(res, 200, waveResponse(await this.deps.builds.submit(request, buildCallerOf(caller, host), caller.user.name)));
  }

  private async describe(req: IncomingMessage, res: ServerResponse, id: string, part: string | undefined): Promise<void> {
    const caller = await this.authenticate(req, undefined);
    const record = await this.deps.builds.find(id);
    if (!record || !(await mayViewBuild(this.deps.identity, caller, record))) throw new WaveError(404, `Build '${id.slice(0, 100)}' not found`);
    if (part === '/status') return sendJson(res, 200, statusOf(record));
    if (part === '/logs' || part === '/condalock') {
      const log = (await this.deps.logs.read(id)).toString('utf8');
      const text = part === '/logs' ? log : extractCondaLock(log);
      if (text === null) throw new WaveError(404, `Build '${id}' has no conda lock file`);
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
      res.end(text);
      return;
    }
    const user = await this.deps.identity.findUserById(record.userId);
    sendJson(res, 200, buildRecordOf(record, user?.name ?? null));
  }

  private async authenticate(req: IncomingMessage, bodyToken: string | undefined): Promise<Authenticated> {
    const login = await apiLogin(this.deps.identity, req.headers.authorization, bodyToken);
    if ('caller' in login) return login.caller;
    throw loginErrors[login.failure];
  }

}

function parseBody(raw: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new WaveError(400, 'Invalid request body - expected a JSON object');
}

const loginErrors: Record<ApiLoginFailure, WaveError> = {
  missing: new WaveError(401, 'Missing user access token'),
  invalid: new WaveError(401, 'Invalid user access token'),
  scope: new WaveError(403, 'This access token may not use the build API (scope "api")'),
};

/** Wave leaves out the attributes it has no value for. */
function waveResponse(response: ContainerResponse): Record<string, unknown> {
  const { status: _status, ...wave } = response;
  return Object.fromEntries(Object.entries(wave).filter(([, value]) => value !== null));
}

function statusOf(record: BuildRecord): Record<string, unknown> {
  const done = isFinished(record.status);
  return {
    id: record.id,
    status: done ? 'COMPLETED' : 'PENDING',
    startTime: new Date(record.startedAt ?? record.createdAt).toISOString(),
    duration: durationOf(record),
    succeeded: done ? record.status === 'succeeded' : null,
  };
}

function buildRecordOf(record: BuildRecord, userName: string | null): Record<string, unknown> {
  return {
    buildId: record.id,
    dockerFile: record.dockerfile,
    condaFile: record.condaFile,
    targetImage: record.targetImage,
    userName,
    startTime: new Date(record.startedAt ?? record.createdAt).toISOString(),
    duration: durationOf(record),
    exitStatus: record.exitStatus,
    platform: record.platform,
    format: 'DOCKER',
    digest: record.digest,
    status: record.status,
    errorReport: record.errorReport,
  };
}

function durationOf(record: BuildRecord): number | null {
  return record.finishedAt === null ? null : (record.finishedAt - (record.startedAt ?? record.createdAt)) / 1000;
}

function toWaveError(error: unknown): WaveError | undefined {
  if (error instanceof WaveError) return error;
  if (error instanceof ContainerRequestError) return new WaveError(400, error.message);
  if (error instanceof BodyTooLarge) return new WaveError(413, `Request body exceeds the maximum allowed size of ${error.limit} bytes`);
  if (isRegistryError(error, 'NameInvalid') || isRegistryError(error, 'NameUnknown')) return new WaveError(400, (error as Error).message);
  return undefined;
}
