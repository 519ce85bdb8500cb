import { Readable } from 'node:stream';
import { HttpResponse, type HttpHandler, type HttpRequest } from '@smithy/protocol-http';
import type { EcrFace } from './ecr-face.ts';
import type { EcrCaller } from './operation-kit.ts';

/**
 * A request handler for the AWS SDK's ECR client that hands requests straight to Berth's ECR face as a
 * caller Berth has already authenticated (a user of its own API), instead of over HTTP with a signature.
 * The SDK still builds and parses AWS JSON 1.1, so code written against `ECRClient` runs unchanged inside
 * Berth and against Amazon ECR.
 */
export function inProcessEcrHandler(face: EcrFace, caller: () => Promise<EcrCaller>): HttpHandler {
  return {
    async handle(request: HttpRequest) {
      const answer = await face.invoke(String(request.headers['x-amz-target'] ?? ''), bodyOf(request.body), await caller());
      const json = Buffer.from(JSON.stringify(answer.body));
      const headers: Record<string, string> = { 'content-type': 'application/x-amz-json-1.1', 'content-length': String(json.length) };
      if (answer.errorType) headers['x-amzn-errortype'] = answer.errorType;
      return { response: new HttpResponse({ statusCode: answer.status, headers, body: Readable.from([json]) }) };
    },
    updateHttpClientConfig: () => undefined,
    httpHandlerConfigs: () => ({}),
  };
}

function bodyOf(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('the in-process ECR handler takes string or byte bodies');
}
