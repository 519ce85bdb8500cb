import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { readCapped } from '../http/body.ts';
import type { Authenticated } from '../identity/identity-store.ts';

/** A management API failure: an HTTP status, a stable code and a message for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  caller: Authenticated;
  /** Path parameters of the matched route, in order. */
  params: string[];
}

const maxJsonBytes = 1024 * 1024;

/** Reads and validates a JSON body; any problem is a 400 naming the field. */
export async function readJson<T extends z.ZodType>(ctx: ApiContext, schema: T, maxBytes = maxJsonBytes): Promise<z.infer<T>> {
  const raw = await readCapped(ctx.req, maxBytes);
  let value: unknown = {};
  if (raw.length) {
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch (error) {
      throw new ApiError(400, 'INVALID_JSON', `request body is not valid JSON: ${(error as Error).message}`);
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const field = issue.path.join('.') || 'body';
    throw new ApiError(400, 'INVALID_REQUEST', `${field}: ${issue.message}`);
  }
  return result.data;
}

export { sendJson } from '../http/json.ts';

export function requireSystemAdmin(ctx: ApiContext): void {
  if (!ctx.caller.user.isAdmin) throw new ApiError(403, 'FORBIDDEN', 'only a system administrator may do this');
}
