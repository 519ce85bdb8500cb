import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { pushBusyboxImage } from '../support/build-requests.ts';
import { removeDir, scratchDir } from '../support/containers.ts';
import { runBerthCli } from '../support/berth-cli.ts';

describe('berth build', () => {
  let berth: TestBerth;
  let scratch: string;
  let base: string;
  const berthCli = (args: string[]) => runBerthCli(berth, args);

  before(async () => {
    berth = await startBerth({ config: { builder: { executor: 'buildah' } } });
    scratch = await scratchDir('cli-build');
    base = await pushBusyboxImage(berth, 'admin/busybox:1', 'cli');
  });
  after(async () => {
    await berth?.close();
    await removeDir(scratch);
  });

  it('submit --file --context --follow streams the log and ends with the pushed digest; status and list show the build', async () => {
    const context = join(scratch, 'context');
    await mkdir(join(context, 'data'), { recursive: true });
    await writeFile(join(context, 'data', 'notes.txt'), 'notes\n');
    await writeFile(join(scratch, 'Dockerfile'), `FROM ${base}\nCOPY data /data\nRUN echo cli-built && cat /data/notes.txt\n`);
    const built = await berthCli(['build', 'submit', '-f', join(scratch, 'Dockerfile'), '--context', context, '--repository', `${berth.host}/admin/cli`, '--follow']);
    assert.equal(built.code, 0, built.stderr + built.stdout);
    assert.match(built.stdout, /^building|^pending|^submitted/m);
    assert.match(built.stdout, /^cli-built$/m);
    const id = /\(build (bd-[0-9a-f]{16}_\d+)\)/.exec(built.stdout)![1]!;
    assert.match(built.stdout, new RegExp(`^${id}: succeeded \\(sha256:[0-9a-f]{64}\\)$`, 'm'));

    const status = await berthCli(['build', 'status', id]);
    assert.match(status.stdout, new RegExp(`^${id}: succeeded`));
    const listed = JSON.parse((await berthCli(['build', 'list', '--workspace', 'admin', '--json'])).stdout) as Array<{ id: string }>;
    assert.ok(listed.some((build) => build.id === id));

    const again = await berthCli(['build', 'submit', '-f', join(scratch, 'Dockerfile'), '--context', context, '--repository', `${berth.host}/admin/cli`]);
    assert.match(again.stdout, /^cached: /);
  });

  it('a failing build exits 1 with its error report; a request without a source is a usage error', async () => {
    await writeFile(join(scratch, 'Broken.Dockerfile'), `FROM ${base}\nRUN echo going down && exit 4\n`);
    const failed = await berthCli(['build', 'submit', '-f', join(scratch, 'Broken.Dockerfile'), '--repository', `${berth.host}/admin/cli`, '--follow']);
    assert.equal(failed.code, 1);
    assert.match(failed.stdout, /: failed$/m);
    assert.match(failed.stdout, /^ {2}step {3}2: RUN echo going down && exit 4 \(exit code 4\)$/m);

    const nothing = await berthCli(['build', 'submit']);
    assert.notEqual(nothing.code, 0);
    assert.match(nothing.stderr, /give one of --file/);
  });
});
