import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import tar from 'tar-stream';
import { Dockerignore } from '../../../src/builder/studio-config/dockerignore.ts';
import { run } from '../../support/processes.ts';

// The docker CLI applies .dockerignore itself when it uses the classic builder: it walks the context, leaves out
// what the rules exclude, and sends the rest as a tar to the daemon. Here the "daemon" is a socket that only
// answers the ping and keeps the tar, so the real CLI's decision can be compared with ours file by file.
//
// Not compared: wildcard exceptions inside an excluded directory (`cache` then `!**/*.keep`). The classic CLI
// stops walking such a directory unless an exception's text starts with the directory's path, so it drops
// files that its own matcher (and BuildKit, today's default builder) would include; we follow the matcher.

const tree = [
  'README.md',
  'README-secret.md',
  'CHANGES.md',
  'main.go',
  'cmd/tool/main.go',
  'docs/README.md',
  'docs/guide/intro.md',
  'node_modules/pkg/index.js',
  'src/node_modules/x.js',
  'src/app.py',
  'src/util.py',
  'data/big.csv',
  'tempa',
  'temp.txt',
  'somedir/temporary.txt',
  'somedir/subdir/temporary.txt',
  'a(b)c/def',
  '.hidden',
  'build/out.o',
  'dir/dir2/file',
  'profile',
  'util/docker/web/foo',
  'weird name with spaces.txt',
];

const ignoreFiles = [
  '*.md\n!README*.md\nREADME-secret.md\n',
  '*.md\nREADME-secret.md\n!README*.md\n',
  '# comment\n*/temp*\n*/*/temp*\ntemp?\n',
  '**/*.go\n',
  'node_modules\n',
  '**/node_modules\n',
  'docs\n!docs/README.md\n',
  'docs/*\n!docs/guide\n',
  '*\n!src\n!Dockerfile\n',
  '/build\n./data/\n.hidden\n',
  '**\n!util/docker/web\n',
  'a(b)c/*\n[a-c]*.md\n',
  'dir/**\n',
  '**file\n',
  'src/*.py\n!src/app.py\n',
  '  # indented comment\n  CHANGES.md  \n\n',
  '*/*/*\n',
  'weird*\n?emp*\n',
];

/** Files docker always sends, whatever the rules say, because the daemon needs them. */
const alwaysSent = new Set(['Dockerfile', '.dockerignore']);

describe('.dockerignore decisions match the docker CLI (real CLI, classic builder, against a capturing socket instead of a daemon)', () => {
  let workDir: string;
  let socketPath: string;
  let server: Server;
  let captured: ((tarBytes: Buffer) => void) | null = null;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'berth-dockerignore-cli-'));
    socketPath = join(workDir, 'docker.sock');
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.url?.endsWith('/_ping')) {
          res.writeHead(200, { 'Api-Version': '1.45', Ostype: 'linux', 'Content-Type': 'text/plain' }).end('OK');
          return;
        }
        captured?.(Buffer.concat(chunks));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${JSON.stringify({ error: 'captured', errorDetail: { message: 'captured' } })}\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(workDir, { recursive: true, force: true });
  });

  /** Runs `docker build` on the context and returns the regular files the CLI put in the tar. */
  async function filesDockerSends(contextDir: string): Promise<string[]> {
    const tarBytes = new Promise<Buffer>((resolve) => (captured = resolve));
    const result = await run('docker', ['build', '-q', contextDir], {
      allowFailure: true,
      timeoutMs: 60_000,
      env: { ...process.env, DOCKER_BUILDKIT: '0', DOCKER_HOST: `unix://${socketPath}`, DOCKER_CONFIG: join(workDir, 'docker-config'), DOCKER_CLI_HINTS: 'false' },
    });
    assert.match(result.stderr, /captured/, `the CLI did not reach the capturing socket: ${result.stderr}`);
    const names: string[] = [];
    const extract = tar.extract();
    extract.end(await tarBytes);
    for await (const entry of extract) {
      if (entry.header.type === 'file') names.push(entry.header.name);
      entry.resume();
    }
    return names.filter((name) => !alwaysSent.has(name)).sort();
  }

  ignoreFiles.forEach((ignoreText, index) => {
    it(`case ${index + 1}: ${JSON.stringify(ignoreText)}`, async () => {
      const contextDir = join(workDir, `context-${index}`);
      for (const path of tree) {
        await mkdir(dirname(join(contextDir, path)), { recursive: true });
        await writeFile(join(contextDir, path), `${path}\n`);
      }
      await writeFile(join(contextDir, 'Dockerfile'), 'FROM scratch\n');
      await writeFile(join(contextDir, '.dockerignore'), ignoreText);

      const ignore = Dockerignore.parse(ignoreText);
      const ours = tree.filter((path) => !ignore.excludes(path)).sort();
      assert.deepEqual(ours, await filesDockerSends(contextDir));
    });
  });
});
