import { request, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ExecutorUnavailable } from './build-executor.ts';

/** The API version Berth speaks: Docker Engine 20.10 and every later engine understand it. */
const API_VERSION = 'v1.41';
/** Cap on a JSON answer or one line of a progress stream; the engine's are a few kilobytes. */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** One message of the engine's progress streams (build, push, pull). */
export interface EngineMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string; Digest?: string; Tag?: string };
}

export interface EngineRequest {
  method: string;
  /** Below the versioned root, e.g. `/build?version=1`. */
  path: string;
  headers?: OutgoingHttpHeaders;
  body?: Readable;
  signal?: AbortSignal;
}

/**
 * The few Docker Engine API calls the docker executor needs, over the engine's unix socket with node:http.
 * A socket that is missing or refuses connections is ExecutorUnavailable; an answer the engine gives
 * (any status) is returned to the caller to interpret.
 */
export class DockerEngine {
  constructor(private readonly socketPath: string) {}

  /** `GET /_ping`; rejects with ExecutorUnavailable unless the engine answers OK. */
  async ping(): Promise<void> {
    const { status, body } = await this.json({ method: 'GET', path: '/_ping', signal: AbortSignal.timeout(10_000) });
    if (status !== 200) throw new ExecutorUnavailable(`the Docker engine at ${this.socketPath} answered /_ping with ${status}: ${String(body)}`);
  }

  /** A call whose answer is small: its status and parsed JSON body (or text when it is not JSON). */
  async json<T = unknown>(call: EngineRequest): Promise<{ status: number; body: T }> {
    const response = await this.send(call);
    const text = await readCapped(response);
    let body: unknown = text;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      // plain text (e.g. /_ping's "OK")
    }
    return { status: response.statusCode ?? 0, body: body as T };
  }

  /**
   * A call answered by a stream of JSON messages (build, push). Calls `onMessage` for each; rejects when
   * the engine refuses the call outright. Aborting `call.signal` closes the connection, which tells the
   * engine to stop.
   */
  async stream(call: EngineRequest, onMessage: (message: EngineMessage) => void): Promise<void> {
    const response = await this.send(call);
    if ((response.statusCode ?? 0) >= 300) {
      const text = await readCapped(response);
      throw new EngineError(response.statusCode ?? 0, engineMessage(text));
    }
    let pending = '';
    try {
      for await (const chunk of response.setEncoding('utf8')) {
        pending += chunk as string;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line !== '') onMessage(JSON.parse(line) as EngineMessage);
        }
        if (pending.length > MAX_JSON_BYTES) throw new EngineError(0, 'the engine sent an over-long progress message');
      }
    } catch (error) {
      throw this.classify(error as NodeJS.ErrnoException, call.signal);
    }
    if (pending.trim() !== '') onMessage(JSON.parse(pending) as EngineMessage);
  }

  /** A call whose answer the caller reads itself, as bytes (container logs are a binary stream); unread, any status. */
  response(call: EngineRequest): Promise<IncomingMessage> {
    return this.send(call);
  }

  private send(call: EngineRequest): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const req = request({
        socketPath: this.socketPath,
        method: call.method,
        path: `/${API_VERSION}${call.path}`,
        headers: { Host: 'docker', ...call.headers },
        signal: call.signal,
      });
      req.once('response', resolve);
      req.once('error', (error: NodeJS.ErrnoException) => reject(this.classify(error, call.signal)));
      if (call.body) {
        pipeline(call.body, req).catch((error: Error) => req.destroy(error));
      } else {
        req.end();
      }
    });
  }

  private classify(error: NodeJS.ErrnoException, signal: AbortSignal | undefined): Error {
    if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : error;
    if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTSOCK'].includes(error.code ?? '')) {
      return new ExecutorUnavailable(`cannot reach the Docker engine at ${this.socketPath}: ${error.message}`);
    }
    if (['ECONNRESET', 'EPIPE'].includes(error.code ?? '')) {
      return new ExecutorUnavailable(`the Docker engine at ${this.socketPath} closed the connection: ${error.message}`);
    }
    return error;
  }
}

/** The engine answered a call with an error status. */
export class EngineError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

/** The engine's error bodies are `{"message": "..."}`. */
function engineMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON
  }
  return text.trim();
}

async function readCapped(response: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of response.setEncoding('utf8')) {
    text += chunk as string;
    if (text.length > MAX_JSON_BYTES) {
      response.destroy();
      throw new EngineError(response.statusCode ?? 0, 'the engine sent an over-long answer');
    }
  }
  return text;
}

/** Base64url with padding, the encoding the engine expects in X-Registry-Auth and X-Registry-Config. */
export function engineHeaderValue(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}
