import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BuildahExecutor } from '../../../src/builder/executors/buildah-executor.ts';
import { ContainerStorage, creds, removeDir, scratchDir } from '../../support/containers.ts';
import { run } from '../../support/processes.ts';
import { buildExecutorContract } from './build-executor.contract.ts';

buildExecutorContract('buildah', async () => {
  const stateDir = await scratchDir('buildah-executor');
  const storageFlags = ['--root', join(stateDir, 'storage', 'root'), '--runroot', join(stateDir, 'storage', 'runroot'), '--storage-driver', 'vfs'];
  const inspectStorage = async (args: string[]) => JSON.parse((await run('buildah', [...storageFlags, ...args])).stdout || 'null') ?? [];
  return {
    executor: new BuildahExecutor({ stateDir }),
    impatient: new BuildahExecutor({ stateDir, stopGraceMs: 0 }),
    unavailable: new BuildahExecutor({ stateDir: join(stateDir, 'unavailable'), binary: join(stateDir, 'no-such-buildah') }),
    async leftovers(bases) {
      const containers = (await inspectStorage(['containers', '--json'])) as Array<{ containername: string }>;
      const images = (await inspectStorage(['images', '--json'])) as Array<{ id: string; names: string[] | null }>;
      const scratch = await readdir(join(stateDir, 'builds')).catch(() => []);
      return [
        ...containers.map((container) => `container ${container.containername}`),
        ...images.filter((image) => !(image.names ?? []).some((name) => bases.includes(name))).map((image) => `image ${image.id} ${(image.names ?? []).join(',')}`),
        ...scratch.map((entry) => `scratch ${entry}`),
      ];
    },
    /** buildah runs the image's rootfs with chroot isolation in storage of its own (MACHINE.md: podman run cannot). */
    async run(reference, login, command) {
      const storage = await ContainerStorage.create('buildah-executor-run');
      try {
        const auth = ['--tls-verify=false', '--creds', creds(login.username, login.password)];
        const container = (await storage.buildah(['from', '--quiet', ...auth, `docker://${reference}`])).stdout.trim();
        return (await storage.buildah(['run', '--isolation=chroot', container, '--', ...command])).stdout;
      } finally {
        await storage.remove();
      }
    },
    close: () => removeDir(stateDir),
  };
});
