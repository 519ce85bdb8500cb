import { AugmentError } from '../builder/augment/augment-errors.ts';
import { CliError, type ApiClient } from './client.ts';

/**
 * Pushes a blob over the OCI distribution API (`/v2/`), streaming it: start an upload, send the
 * bytes in one PATCH, then commit with the digest, which `digest()` gives once the body has been
 * consumed (it is computed while the bytes stream). Registry clients log in with a user name and
 * an API token: the user is the token's owner.
 */
export async function pushBlob(client: ApiClient, user: string, repository: string, body: AsyncIterable<Uint8Array>, digest: () => string): Promise<void> {
  const authorization = basic(client, user);
  const started = await registryCall(`${client.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers: { Authorization: authorization } }, 202);
  const sent = await registryCall(
    location(started, client.url),
    {
      method: 'PATCH',
      headers: { Authorization: authorization, 'Content-Type': 'application/octet-stream' },
      // fetch streams an async iterable body; the DOM types do not say so.
      body: body as unknown as BodyInit,
      duplex: 'half',
    } as RequestInit,
    202,
  );
  const commit = new URL(location(sent, client.url));
  commit.searchParams.set('digest', digest());
  await registryCall(commit.toString(), { method: 'PUT', headers: { Authorization: authorization } }, 201);
}

/**
 * Whether the registry serves the manifest `reference` (tag or digest) of `repository` to this user:
 * false when it does not exist or may not be pulled.
 */
export async function manifestExists(client: ApiClient, user: string, repository: string, reference: string): Promise<boolean> {
  const response = await fetch(`${client.url}/v2/${repository}/manifests/${reference}`, { method: 'HEAD', headers: { Authorization: basic(client, user) } }).catch(
    (error: Error) => {
      throw new CliError(`cannot reach Berth at ${client.url} (${(error.cause as Error | undefined)?.message ?? error.message})`);
    },
  );
  return response.ok;
}

function basic(client: ApiClient, user: string): string {
  return `Basic ${Buffer.from(`${user}:${client.token}`).toString('base64')}`;
}

async function registryCall(url: string, init: RequestInit, expected: number): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    // A layer that fails while it streams (not a tar, unreadable) surfaces as the cause of fetch's error.
    const cause = (error as Error).cause;
    if (cause instanceof AugmentError) throw new CliError(cause.message);
    throw new CliError(`cannot upload to ${url}: ${(cause as Error | undefined)?.message ?? (error as Error).message}`);
  }
  if (response.status === expected) {
    await response.body?.cancel();
    return response;
  }
  const errors = ((await response.json().catch(() => ({}))) as { errors?: Array<{ code: string; message: string }> }).errors ?? [];
  const reason = errors.map((e) => `${e.code}: ${e.message}`).join('; ') || `${response.status} ${response.statusText}`;
  throw new CliError(`the registry refused the layer upload (${init.method} ${new URL(url).pathname}): ${reason}`);
}

function location(response: Response, base: string): string {
  const header = response.headers.get('location');
  if (!header) throw new CliError('the registry answered an upload without a Location');
  return new URL(header, base).toString();
}
