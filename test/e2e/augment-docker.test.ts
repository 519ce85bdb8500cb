import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { creds, removeDir, scratchDir, skopeo, writeBusyboxContext } from '../support/containers.ts';
import { startDockerd, type Dockerd } from '../support/dockerd.ts';
import { run } from '../support/processes.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;
const marker = 'the base image, built by docker';

/**
 * An image built and pushed by the Docker engine (Docker schema 2), augmented by `berth image
 * augment`, then pulled and run by the engine: the engine checks every layer against the config's
 * diffIDs, so a pull that succeeds proves the surgery, and the container sees the injected file
 * and environment on top of the untouched base.
 */
describe('docker runs an image augmented by berth', () => {
  let berth: TestBerth;
  let dockerd: Dockerd | undefined;
  let scratch: string;

  before(async () => {
    berth = await startBerth();
    scratch = await scratchDir('augment-docker');
    dockerd = await startDockerd({ insecureRegistries: [berth.host] });
  });
  after(async () => {
    await dockerd?.stop();
    await berth?.close();
    await removeDir(scratch);
  });

  it('shows the injected file and env, and the base file, in a container', async () => {
    assert.ok(dockerd, 'dockerd is running');
    const engine = dockerd;
    const configDir = await mkdtemp(join(scratch, 'config-'));
    const docker = (args: string[]) => engine.docker(args, { configDir });
    await engine.docker(['login', berth.host, '-u', 'admin', '--password-stdin'], { configDir, input: `${berth.adminToken}\n` });
    const base = `${berth.host}/admin/e2e/base:1`;
    const augmented = `${berth.host}/admin/e2e/augmented:1`;
    await docker(['build', '--quiet', '-t', base, await writeBusyboxContext(join(scratch, 'context'), marker)]);
    await docker(['push', base]);

    const layer = join(scratch, 'layer');
    await mkdir(join(layer, 'opt/berth'), { recursive: true });
    await writeFile(join(layer, 'opt/berth/hello.txt'), 'injected by berth image augment\n');
    const result = await run(process.execPath, [cli, 'image', 'augment', base, '--layer', layer, '--env', 'GREETING=hello from the augmented image', '--to', augmented], {
      env: { ...process.env, BERTH_URL: berth.url, BERTH_TOKEN: berth.adminToken },
      allowFailure: true,
    });
    assert.equal(result.code, 0, result.stderr);

    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', creds('admin', berth.adminToken), `docker://${augmented}`]);
    assert.equal((JSON.parse(raw.stdout) as { mediaType: string }).mediaType, 'application/vnd.docker.distribution.manifest.v2+json');

    await docker(['pull', augmented]);
    const shown = await docker(['run', '--rm', '--network', 'host', augmented, 'sh', '-c', 'cat /opt/berth/hello.txt /marker.txt; echo "$GREETING"']);
    assert.equal(shown.stdout, `injected by berth image augment\n${marker}\nhello from the augmented image\n`);
  });
});
