import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type BerthConfig } from '../../src/config/schema.ts';
import { startServer, type BerthServer } from '../../src/server/compose.ts';

export const adminToken = 'berth_test-admin-token-0123456789abcdef';

export interface TestBerth {
  server: BerthServer;
  url: string;
  /** host:port, as registry clients name it */
  host: string;
  dataDir: string;
  adminToken: string;
  /** Calls the management API as `token` (default: admin). */
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  /** Creates a user with an API token (optionally narrowed), returning the token's secret. */
  user(name: string, scopes?: string[]): Promise<string>;
  /** Gives `user` a role in `workspace`. */
  role(workspace: string, user: string, role: string): Promise<void>;
  close(options?: { keepData?: boolean }): Promise<void>;
}

type Overrides = { [K in keyof BerthConfig]?: Partial<BerthConfig[K]> };

/** A real Berth, in this process, on an ephemeral loopback port with its own data directory. */
export async function startBerth(options: { dataDir?: string; databaseUrl?: string; config?: Overrides } = {}): Promise<TestBerth> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'berth-test-')));
  const raw = options.config ?? {};
  const config = configSchema.parse({
    ...raw,
    dataDir,
    server: { host: '127.0.0.1', port: 0, ...(raw.server ?? {}) },
    database: { url: options.databaseUrl },
    auth: { adminToken },
  });
  const server = await startServer(config, () => undefined);
  const url = server.url;
  const api: TestBerth['api'] = async (method, path, body, token = adminToken) => {
    const response = await fetch(`${url}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as never };
  };
  return {
    server,
    url,
    host: url.replace(/^http:\/\//, ''),
    dataDir,
    adminToken,
    api,
    async user(name, scopes) {
      const created = await api('POST', '/api/users', { name });
      if (created.status !== 201) throw new Error(`creating user ${name}: ${JSON.stringify(created.body)}`);
      const token = await api<{ secret: string }>('POST', `/api/users/${name}/tokens`, { name: 'test', scopes });
      return token.body.secret;
    },
    async role(workspace, user, role) {
      const result = await api('PUT', `/api/workspaces/${workspace}/members/${user}`, { role });
      if (result.status !== 200) throw new Error(`setting role: ${JSON.stringify(result.body)}`);
    },
    async close(closeOptions = {}) {
      await server.close();
      if (!closeOptions.keepData && !options.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Basic auth header value for a user and API token. */
export function basic(user: string, token: string): string {
  return `Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
}
