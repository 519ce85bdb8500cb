import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ClientOptions {
  url?: string;
  token?: string;
  data?: string;
}

export class CliError extends Error {
  override readonly name = 'CliError';
}

/**
 * The CLI's way to a running Berth: its URL (--url, $BERTH_URL, default http://127.0.0.1:8080) and
 * an API token (--token, $BERTH_TOKEN, or the admin token file in the data directory).
 */
export class ApiClient {
  readonly url: string;
  /** Also the password registry clients (the CLI's own blob uploads) log in with. */
  readonly token: string;

  constructor(options: ClientOptions) {
    this.url = (options.url ?? process.env.BERTH_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
    this.token = options.token ?? process.env.BERTH_TOKEN ?? readTokenFile(options.data ?? process.env.BERTH_DATA_DIR ?? 'berth-data');
  }

  /**
   * Calls an operation of the ECR-compatible API as this token's user, in `workspace` (default:
   * the user's own). The CLI's registry commands use the very functions `aws ecr` reaches.
   */
  async ecr<T>(operation: string, input: Record<string, unknown>, workspace?: string): Promise<T> {
    const response = await this.send('/ecr/', {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${this.token}`,
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': `AmazonEC2ContainerRegistry_V20150921.${operation}`,
        ...(workspace ? { 'X-Berth-Workspace': workspace } : {}),
      },
      body: JSON.stringify(input),
    });
    const value = (await response.json()) as T & { __type?: string; message?: string };
    if (!response.ok) throw new CliError(`${value.__type ?? response.status}: ${value.message ?? response.statusText}`);
    return value;
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.url}${path}`, init);
    } catch (error) {
      throw new CliError(`cannot reach Berth at ${this.url} (${(error as Error).cause ?? (error as Error).message}); is \`berth up\` running?`);
    }
  }

  /** A GET whose body the caller reads as it comes (logs); a failure status becomes a CliError. */
  async stream(path: string, accept = 'text/plain'): Promise<Response> {
    const response = await this.send(path, { headers: { Authorization: `Bearer ${this.token}`, Accept: accept } });
    if (!response.ok) {
      const value = (await response.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
      throw new CliError(value?.error?.message ?? `${response.status} ${response.statusText}`);
    }
    return response;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(path, {
      method,
      headers: { Authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const value = text ? (JSON.parse(text) as unknown) : undefined;
    if (!response.ok) {
      const message = (value as { error?: { message?: string } })?.error?.message ?? `${response.status} ${response.statusText}`;
      throw new CliError(message);
    }
    return value as T;
  }
}

function readTokenFile(dataDir: string): string {
  try {
    return readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  } catch {
    throw new CliError(`no API token: pass --token, set BERTH_TOKEN, or run where ${join(dataDir, 'admin-token')} is readable`);
  }
}
