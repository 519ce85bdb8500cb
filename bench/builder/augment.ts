import { createHash } from 'node:crypto';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ContainerStorage } from '../../test/support/containers.ts';
import { tarOf } from '../../test/support/tar-archives.ts';
import type { BenchRegistry } from '../support/registries.ts';
import { authorization } from './builds.ts';

/** Pushes a small uncompressed tar layer (one file) into `repository`; returns its digest. */
export async function pushLayer(berth: BenchRegistry, repository: string): Promise<string> {
  const tar = await tarOf({ 'opt/berth/agent.txt': 'the injected agent\n' });
  const digest = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
  const headers = { Authorization: authorization(berth) };
  const started = await fetch(`http://${berth.host}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers });
  const location = new URL(started.headers.get('location')!, `http://${berth.host}`);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, { method: 'PUT', headers: { ...headers, 'Content-Type': 'application/octet-stream' }, body: tar });
  if (put.status !== 201) throw new Error(`layer upload answered ${put.status}: ${await put.text()}`);
  return digest;
}

/** One augmentation through the API: the pushed layer and an env variable on top of `source`. */
export async function augmentOnce(berth: BenchRegistry, source: string, target: string, layer: string): Promise<void> {
  const response = await fetch(`http://${berth.host}/api/images/augment`, {
    method: 'POST',
    headers: { Authorization: authorization(berth), 'Content-Type': 'application/json' },
    body: JSON.stringify({ source, target, layers: [{ digest: layer }], env: ['BERTH_AGENT=/opt/berth/agent.txt'] }),
  });
  if (response.status !== 201) throw new Error(`augment answered ${response.status}: ${await response.text()}`);
  await response.arrayBuffer();
}

/** What augmentation replaces: a rebuild FROM the base that copies the file in, pushed. */
export async function rebuildWithLayer(storage: ContainerStorage, token: string, base: string, file: string, target: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await copyFile(file, join(dir, basename(file)));
  await writeFile(join(dir, 'Dockerfile'), `FROM ${base}\nCOPY ${basename(file)} /opt/berth/\nENV BERTH_AGENT=/opt/berth/${basename(file)}\n`);
  await storage.buildah(['bud', '--isolation=chroot', '--pull=always', '--tls-verify=false', '--creds', `admin:${token}`, '-q', '-t', target, dir]);
  await storage.buildah(['push', '--tls-verify=false', '--creds', `admin:${token}`, target]);
  await storage.buildah(['rmi', target]);
}
