import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CloneResult } from '../../src/toolbox/clone/clone-image.ts';
import type { MigrateResult } from '../../src/toolbox/clone/migrate.ts';
import { startBerth, type TestBerth } from '../support/berth.ts';
import { removeDir, scratchDir, skopeo } from '../support/containers.ts';
import { startDistribution, type Distribution } from '../support/distribution.ts';
import { ociReference, twoPlatforms, writeOciLayout, type GeneratedLayout } from '../support/oci-image.ts';
import { formatBytes, progressView } from '../../src/cli/progress-view.ts';
import { stopProcess } from '../support/processes.ts';
import { runBerthCli } from '../support/berth-cli.ts';

const cli = new URL('../../bin/berth.js', import.meta.url).pathname;

describe('berth clone and berth migrate', () => {
  let berth: TestBerth;
  let open: Distribution;
  let locked: Distribution;
  let scratch: string;
  let layout: GeneratedLayout;
  const lockedLogin = { username: 'cli-user', password: 'cli-secret' };

  /** The CLI as a user runs it, not on a terminal: its own docker config dir and state dir. */
  const berthCli = (args: string[], env: Record<string, string> = {}) =>
    runBerthCli(berth, args, { env: { DOCKER_CONFIG: join(scratch, 'no-docker'), XDG_STATE_HOME: join(scratch, 'state'), ...env } });

  before(async () => {
    scratch = await scratchDir('clone-cli');
    [berth, open, locked] = await Promise.all([startBerth(), startDistribution(), startDistribution({ htpasswd: lockedLogin })]);
    layout = await writeOciLayout({ dir: join(scratch, 'image'), tag: 'v1', layers: 2, layerBytes: 30 * 1024, platforms: twoPlatforms });
    await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', ociReference(layout), `docker://${open.host}/lab/app:v1`]);
    await skopeo(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `${lockedLogin.username}:${lockedLogin.password}`, ociReference(layout), `docker://${locked.host}/team/app:v1`]);
  });

  after(async () => {
    await Promise.allSettled([berth?.close(), open?.stop(), locked?.stop()]);
    await removeDir(scratch);
  });

  it('copies into the Berth it talks to with its token, printing one plain line per blob when stderr is not a terminal', async () => {
    const first = await berthCli(['clone', `${open.host}/lab/app:v1`, `${berth.host}/admin/cli/app`]);
    assert.equal(first.code, 0, first.stderr);
    const blobs = layout.images.reduce((n, image) => n + 1 + image.layers.length, 0);
    assert.equal(first.stderr.match(/^copying (layer|config) sha256:[0-9a-f]{12} \d+(\.\d)? (B|kB|MB)$/gm)?.length, blobs, first.stderr);
    assert.equal(first.stderr.match(/^done (layer|config) sha256:[0-9a-f]{12} \S+ (B|kB|MB) \d+\.\d MB\/s$/gm)?.length, blobs, first.stderr);
    assert.doesNotMatch(first.stderr, /\x1b\[/, 'no terminal control sequences in plain output');
    assert.match(first.stdout, new RegExp(`→ ${berth.host}/admin/cli/app:v1  ${layout.top.digest} \\(linux/amd64, linux/arm64\\)`));
    assert.match(first.stdout, new RegExp(`copied ${blobs} blobs`));

    const second = await berthCli(['clone', `${open.host}/lab/app:v1`, `${berth.host}/admin/cli/app`, '--json']);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr.match(/^skipped .* \(already there\)$/gm)?.length, blobs);
    const result = JSON.parse(second.stdout) as CloneResult;
    assert.equal(result.totals.blobs.skipped, blobs);
    assert.equal(result.images[0]!.digest, layout.top.digest);
  });

  it('logs in with --src-creds, or with docker config.json when no flag is given, and fails with exit 1 without either', async () => {
    const source = `${locked.host}/team/app:v1`;
    const refused = await berthCli(['clone', source, `${berth.host}/admin/cli/locked`]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^berth: reading .*requires credentials and none are configured/m);

    const withFlag = await berthCli(['clone', source, `${berth.host}/admin/cli/locked`, '--src-creds', `${lockedLogin.username}:${lockedLogin.password}`, '--json']);
    assert.equal(withFlag.code, 0, withFlag.stderr);
    assert.equal((JSON.parse(withFlag.stdout) as CloneResult).images[0]!.digest, layout.top.digest);

    const dockerConfig = join(scratch, 'docker');
    await mkdir(dockerConfig, { recursive: true });
    const auth = Buffer.from(`${lockedLogin.username}:${lockedLogin.password}`).toString('base64');
    await writeFile(join(dockerConfig, 'config.json'), JSON.stringify({ auths: { [locked.host]: { auth } } }));
    const withConfig = await berthCli(['clone', source, `${berth.host}/admin/cli/from-config`, '--json'], { DOCKER_CONFIG: dockerConfig });
    assert.equal(withConfig.code, 0, withConfig.stderr);
    assert.equal((JSON.parse(withConfig.stdout) as CloneResult).images[0]!.digest, layout.top.digest);
  });

  it('stops on Ctrl-C with exit 130, and the same command run again copies only what is missing', async () => {
    const gate = await startBlobGate(open.url);
    try {
      const args = [cli, 'clone', `${gate.host}/lab/app:v1`, `${berth.host}/admin/cli/interrupted`, '--concurrency', '1'];
      const env = { ...process.env, BERTH_URL: berth.url, BERTH_TOKEN: berth.adminToken, DOCKER_CONFIG: join(scratch, 'no-docker'), XDG_STATE_HOME: join(scratch, 'state') };
      const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      try {
        // The gate lets one blob through and holds the next: the first is in, the second on its way.
        await Promise.race([gate.held, once(child, 'exit').then(() => assert.fail(`the clone ended before the gate held a blob:\n${stderr}`))]);
        while (!/^done /m.test(stderr)) await once(child.stderr, 'data');
        child.kill('SIGINT');
        const [code] = (await once(child, 'exit')) as [number | null];
        assert.equal(code, 130, stderr);
        assert.match(stderr, /interrupted; run the same command again/);
      } finally {
        await stopProcess(child);
      }
      gate.open();
      const again = await berthCli(['clone', `${gate.host}/lab/app:v1`, `${berth.host}/admin/cli/interrupted`, '--json']);
      assert.equal(again.code, 0, again.stderr);
      const result = JSON.parse(again.stdout) as CloneResult;
      const blobs = layout.images.reduce((n, image) => n + 1 + image.layers.length, 0);
      assert.deepEqual([result.totals.blobs.skipped, result.totals.blobs.copied], [1, blobs - 1]);
      assert.equal(result.images[0]!.digest, layout.top.digest);
    } finally {
      await gate.close();
    }
  });

  it('draws a live view with bars, MB/s and a total on a terminal', () => {
    let written = '';
    const stream = Object.assign(new Writable({ write: (chunk, _encoding, done) => ((written += String(chunk)), done()) }), { isTTY: true, columns: 120 });
    const view = progressView({ stream });
    view.sink({ kind: 'step', message: 'copying a → b' });
    view.sink({ kind: 'transfer', id: 'x', label: 'layer sha256:0123456789ab', totalBytes: 4_000_000, doneBytes: 0, state: 'waiting' });
    view.sink({ kind: 'transfer', id: 'x', label: 'layer sha256:0123456789ab', totalBytes: 4_000_000, doneBytes: 2_000_000, state: 'copying' });
    view.finish();
    assert.match(written, /^copying a → b$/m);
    assert.match(written, /layer sha256:0123456789ab\s+\[#{10}\.{10}\] 2\.0 MB\/4\.0 MB \d+\.\d MB\/s/);
    assert.match(written, /^total 0\/1 \[#{10}\.{10}\] 2\.0 MB\/4\.0 MB/m);
    assert.equal(formatBytes(12_345_678), '12.3 MB');
  });

  it('migrate --dry-run prints what would move and copies nothing; migrate copies and prints configuration lines', async () => {
    const dry = await berthCli(['migrate', '--from', `${open.host}/lab`, '--to', `${berth.host}/admin/moved`, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /^SOURCE\s+TARGET\s+TAGS\s+SIZE$/m);
    assert.match(dry.stdout, new RegExp(`${open.host}/lab/app\\s+${berth.host}/admin/moved/app\\s+v1\\s+\\d`));
    assert.match(dry.stdout, /would copy 1 repositories, 1 tags/);
    const absent = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `admin:${berth.adminToken}`, `docker://${berth.host}/admin/moved/app:v1`], { allowFailure: true });
    assert.notEqual(absent.code, 0, 'a dry run copies nothing');

    const real = await berthCli(['migrate', '--from', `${open.host}/lab`, '--to', `${berth.host}/admin/moved`, '--json']);
    assert.equal(real.code, 0, real.stderr);
    const result = JSON.parse(real.stdout) as MigrateResult;
    assert.deepEqual(result.replacements, { [`${open.host}/lab/app:v1`]: `${berth.host}/admin/moved/app:v1` });
    assert.ok(result.configuration.some((c) => c.line === `c.KubeSpawner.image = "${berth.host}/admin/moved/app:v1"`));
    const present = await skopeo(['inspect', '--raw', '--tls-verify=false', '--creds', `admin:${berth.adminToken}`, `docker://${berth.host}/admin/moved/app:v1`]);
    assert.equal(present.code, 0);
  });
});

/**
 * A forwarding proxy that lets the first blob download through and holds every later one until
 * `open()`: a clone through it is certain to be mid-way when the test interrupts it.
 */
async function startBlobGate(target: string): Promise<{ host: string; held: Promise<void>; open(): void; close(): Promise<void> }> {
  const upstream = new URL(target);
  let blobDownloads = 0;
  let gated = true;
  let signalHeld: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (signalHeld = resolve));
  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && /\/blobs\/sha256(:|%3A)/i.test(req.url ?? '') && gated && ++blobDownloads > 1) {
      signalHeld();
      return; // held: the client gives up (aborts) first
    }
    const outgoing = httpRequest({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    outgoing.on('error', () => res.destroy());
    req.pipe(outgoing);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    held,
    open: () => void (gated = false),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
