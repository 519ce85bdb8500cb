import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readAuthorization } from '../../http/basic-auth.ts';
import { BodyTooLarge, readCapped } from '../../http/body.ts';
import { externalBase } from '../../http/request-base.ts';
import type { AccessKeys } from '../../identity/access-keys.ts';
import { scopeAllows } from '../../identity/api-tokens.ts';
import type { IdentityStore } from '../../identity/identity-store.ts';
import { EcrError, toEcrError } from './ecr-errors.ts';
import type { EcrCaller, EcrOperations } from './operation-kit.ts';
import { verifySigV4 } from './sigv4.ts';

const targetPrefix = 'AmazonEC2ContainerRegistry_V20150921.';
const maxRequestBytes = 1024 * 1024;

/**
 * The Amazon ECR API (AWS JSON 1.1) at `/ecr`: `aws ecr … --endpoint-url http://HOST/ecr` and the
 * AWS SDKs work against it. Requests are SigV4-signed with a Berth access key pair, which names
 * the user and the workspace (the "registry"). Berth's own CLI may instead send an API token and
 * name the workspace in `X-Berth-Workspace`.
 */
export class EcrFace {
  constructor(
    private readonly identity: IdentityStore,
    private readonly accessKeys: AccessKeys,
    private readonly operations: EcrOperations,
    /** `region` is reported to API-token callers, who sign nothing. */
    private readonly options: { publicUrl?: string; region: string },
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('x-amzn-RequestId', requestId);
    try {
      if (req.method !== 'POST') throw new EcrError('UnknownOperationException', 'The ECR API takes POST requests with X-Amz-Target', 404);
      const body = await readCapped(req, maxRequestBytes);
      const caller = await this.authenticate(req, body);
      const answer = await this.invoke(String(req.headers['x-amz-target'] ?? ''), body, caller);
      send(res, answer);
    } catch (error) {
      const ecr = error instanceof BodyTooLarge ? new EcrError('ValidationException', error.message, 413) : toEcrError(error);
      if (!ecr) throw error;
      if (!req.complete) req.resume();
      send(res, failureAnswer(ecr));
    }
  }

  /**
   * Runs one operation for a caller already authenticated (the HTTP face above, or Berth itself acting for
   * a user of its API), answering as the wire would: the status, the error type header's value and the body.
   */
  async invoke(target: string, body: Buffer, caller: EcrCaller): Promise<EcrAnswer> {
    try {
      const operation = target.startsWith(targetPrefix) ? this.operations[target.slice(targetPrefix.length)] : undefined;
      if (!operation) throw new EcrError('UnknownOperationException', `Unknown operation ${target.slice(0, 100) || '(no X-Amz-Target)'}`);
      const output = await operation(parseInput(body), caller);
      return { status: 200, body: output ?? {} };
    } catch (error) {
      const ecr = toEcrError(error);
      if (!ecr) throw error;
      return failureAnswer(ecr);
    }
  }

  private async authenticate(req: IncomingMessage, body: Buffer): Promise<EcrCaller> {
    const host = externalBase(req, this.options.publicUrl).replace(/^https?:\/\//, '');
    const credentials = readAuthorization(req.headers.authorization);
    if (credentials.scheme === 'bearer') return this.fromApiToken(req, credentials.token, host);
    const verified = await verifySigV4({ method: req.method ?? 'POST', url: req.url ?? '/', headers: req.headers, body }, 'ecr', (id) =>
      this.accessKeys.resolve(id),
    );
    if (!verified.ok) throw new EcrError(verified.failure.code, verified.failure.message, 403);
    const { user, workspace } = verified.owner;
    return { user, workspace, region: verified.region, host, credential: { kind: 'access-key', id: verified.accessKeyId } };
  }

  private async fromApiToken(req: IncomingMessage, token: string, host: string): Promise<EcrCaller> {
    const found = await this.identity.authenticate(token);
    if (!found) throw new EcrError('UnrecognizedClientException', 'The security token included in the request is invalid.', 403);
    if (!scopeAllows(found.token.scopes, 'api')) throw new EcrError('AccessDeniedException', 'this API token may not use the API (scope "api")', 403);
    const slug = String(req.headers['x-berth-workspace'] ?? found.user.name);
    const workspace = await this.identity.findWorkspace(slug);
    if (!workspace) throw new EcrError('InvalidParameterException', `no workspace "${slug.slice(0, 100)}"`);
    return { user: found.user, workspace, region: this.options.region, host, credential: { kind: 'api-token', id: found.token.id } };
  }
}

function parseInput(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new EcrError('SerializationException', 'The request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new EcrError('SerializationException', 'The request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** An ECR answer as the wire carries it; `errorType` is the `x-amzn-ErrorType` header of a failure. */
export interface EcrAnswer {
  status: number;
  errorType?: string;
  body: unknown;
}

function failureAnswer(ecr: EcrError): EcrAnswer {
  return { status: ecr.status, errorType: ecr.type, body: { __type: ecr.type, message: ecr.message } };
}

function send(res: ServerResponse, answer: EcrAnswer): void {
  const json = JSON.stringify(answer.body);
  if (answer.errorType) res.setHeader('x-amzn-ErrorType', answer.errorType);
  res.writeHead(answer.status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(json) });
  res.end(json);
}
