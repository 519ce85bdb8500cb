import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerExecutor } from '../../../src/builder/executors/docker-executor.ts';
import { removeDir, scratchDir } from '../../support/containers.ts';
import { startDockerd } from '../../support/dockerd.ts';
import { buildExecutorContract } from './build-executor.contract.ts';

buildExecutorContract('docker', async (registry) => {
  const scratch = await scratchDir('docker-executor');
  // Loopback registries are plain-http registries for the engine by default; listing Berth says so explicitly.
  const dockerd = await startDockerd({ insecureRegistries: [registry.host] });
  const socketPath = dockerd.host.replace(/^unix:\/\//, '');
  const configDir = join(scratch, 'docker-config');
  const docker = async (args: string[]) => (await dockerd.docker(args, { configDir })).stdout;
  return {
    executor: new DockerExecutor({ socketPath }),
    impatient: new DockerExecutor({ socketPath, stopGraceMs: 0 }),
    unavailable: new DockerExecutor({ socketPath: join(scratch, 'no-engine.sock') }),
    async leftovers(bases) {
      const containers = (await docker(['ps', '--all', '--format', '{{.ID}} {{.Image}} {{.Status}}'])).split('\n').filter(Boolean);
      const images = (await docker(['images', '--all', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}'])).split('\n').filter(Boolean);
      return [
        ...containers.map((line) => `container ${line}`),
        ...images.filter((line) => !bases.includes(line.split(' ')[1] ?? '')).map((line) => `image ${line}`),
      ];
    },
    /** The engine pulls the image as the login and runs it on the host network, then forgets it. */
    async run(reference, login, command) {
      const config = await mkdtemp(join(scratch, 'run-config-'));
      const as = (args: string[], input?: string) => dockerd.docker(args, { configDir: config, ...(input === undefined ? {} : { input }) });
      await as(['login', login.registry, '--username', login.username, '--password-stdin'], `${login.password}\n`);
      try {
        return (await as(['run', '--rm', '--network', 'host', reference, ...command])).stdout;
      } finally {
        await as(['rmi', reference]);
        await removeDir(config);
      }
    },
    async close() {
      await dockerd.stop();
      await removeDir(scratch);
    },
  };
});
