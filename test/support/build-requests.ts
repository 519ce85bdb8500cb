import { ContainerStorage, creds, writeBusyboxContext } from './containers.ts';
import { inlineBuildContext } from '../../src/builder/builds/build-context.ts';
import type { TestBerth } from './berth.ts';
import { tarOf } from './tar-archives.ts';

/** Builds the static-busybox image with buildah and pushes it into Berth as `<host>/<name>`; returns the reference. */
export async function pushBusyboxImage(berth: TestBerth, name: string, marker: string): Promise<string> {
  const storage = await ContainerStorage.create('busybox-base');
  try {
    const context = await writeBusyboxContext(storage.path('context'), marker);
    const reference = `${berth.host}/${name}`;
    await storage.buildah(['bud', '--isolation=chroot', '-q', '-t', reference, context]);
    await storage.buildah(['push', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), reference]);
    return reference;
  } finally {
    await storage.remove();
  }
}

/** A build context as Wave's clients send it: a tar.gz inline as a `data:` URL. */
export async function inlineContext(files: Record<string, string>): Promise<{ location: string; gzipDigest: string }> {
  return inlineBuildContext(await tarOf(files));
}

export const base64 = (text: string): string => Buffer.from(text).toString('base64');

/** POSTs to the Wave API as `token`. */
export async function waveRequest<T = Record<string, unknown>>(berth: TestBerth, body: unknown, token = berth.adminToken): Promise<{ status: number; body: T }> {
  const response = await fetch(`${berth.url}/v1alpha2/container`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

/** Polls Wave's build status until the build completes; returns the build record. */
export async function waitForBuild(berth: TestBerth, buildId: string, token = berth.adminToken): Promise<Record<string, unknown>> {
  for (;;) {
    const response = await fetch(`${berth.url}/v1alpha1/builds/${buildId}/status`, { headers: { Authorization: `Bearer ${token}` } });
    const status = (await response.json()) as { status: string };
    if (status.status === 'COMPLETED') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const record = await fetch(`${berth.url}/v1alpha1/builds/${buildId}`, { headers: { Authorization: `Bearer ${token}` } });
  return (await record.json()) as Record<string, unknown>;
}
