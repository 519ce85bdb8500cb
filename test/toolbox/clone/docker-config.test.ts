import assert from 'node:assert/strict';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dockerConfigLogin } from '../../../src/toolbox/credentials/docker-config.ts';
import { ToolboxError } from '../../../src/toolbox/toolbox-operation.ts';
import { removeDir, scratchDir } from '../../support/containers.ts';

describe("logins from docker's config.json", () => {
  let dir: string;
  let bin: string;
  let env: NodeJS.ProcessEnv;

  const writeConfig = async (name: string, config: unknown) => {
    const configDir = join(dir, name);
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'config.json'), JSON.stringify(config));
    return configDir;
  };

  before(async () => {
    dir = await scratchDir('docker-config');
    bin = join(dir, 'bin');
    await mkdir(bin);
    // A credential helper as docker runs it: the server URL on stdin, JSON on stdout, "credentials not found" otherwise.
    await writeFile(
      join(bin, 'docker-credential-berthtest'),
      [
        '#!/bin/sh',
        '[ "$1" = get ] || exit 3',
        'read server',
        'case "$server" in',
        '  ghcr.io) echo \'{"ServerURL":"ghcr.io","Username":"robot","Secret":"from-helper"}\' ;;',
        '  https://index.docker.io/v1/) echo \'{"ServerURL":"https://index.docker.io/v1/","Username":"hubuser","Secret":"hub-helper"}\' ;;',
        '  *) echo "credentials not found in native keychain"; exit 1 ;;',
        'esac',
        '',
      ].join('\n'),
    );
    await chmod(join(bin, 'docker-credential-berthtest'), 0o755);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
  });

  after(() => removeDir(dir));

  it('reads a base64 auth entry, username/password entries, and Docker Hub under any of its names', async () => {
    const configDir = await writeConfig('auths', {
      auths: {
        'https://index.docker.io/v1/': { auth: Buffer.from('hubuser:hub:secret').toString('base64') },
        'quay.io': { username: 'q', password: 'qpass' },
        'http://127.0.0.1:5000': { auth: Buffer.from('local:pw').toString('base64') },
        'registry.example.org': { identitytoken: 'refresh-me' },
      },
    });
    for (const host of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      assert.deepEqual(await dockerConfigLogin(host, { configDir, env }), { username: 'hubuser', password: 'hub:secret' });
    }
    assert.deepEqual(await dockerConfigLogin('quay.io', { configDir, env }), { username: 'q', password: 'qpass' });
    assert.deepEqual(await dockerConfigLogin('127.0.0.1:5000', { configDir, env }), { username: 'local', password: 'pw' });
    assert.deepEqual(await dockerConfigLogin('registry.example.org', { configDir, env }), { username: '<token>', password: 'refresh-me' });
    assert.equal(await dockerConfigLogin('ghcr.io', { configDir, env }), undefined);
  });

  it('asks credHelpers per host and credsStore for the rest, falling back to auths when a helper has nothing', async () => {
    const configDir = await writeConfig('helpers', {
      credHelpers: { 'ghcr.io': 'berthtest' },
      credsStore: 'berthtest',
      auths: { 'quay.io': { auth: Buffer.from('q:from-auths').toString('base64') } },
    });
    assert.deepEqual(await dockerConfigLogin('ghcr.io', { configDir, env }), { username: 'robot', password: 'from-helper' });
    assert.deepEqual(await dockerConfigLogin('docker.io', { configDir, env }), { username: 'hubuser', password: 'hub-helper' });
    assert.deepEqual(await dockerConfigLogin('quay.io', { configDir, env }), { username: 'q', password: 'from-auths' });
    assert.equal(await dockerConfigLogin('other.example', { configDir, env }), undefined);
  });

  it('follows $DOCKER_CONFIG, is silent without a config.json, and names a helper that is not installed', async () => {
    const configDir = await writeConfig('env', { auths: { 'quay.io': { username: 'e', password: 'env' } } });
    assert.deepEqual(await dockerConfigLogin('quay.io', { env: { ...env, DOCKER_CONFIG: configDir } }), { username: 'e', password: 'env' });
    assert.equal(await dockerConfigLogin('quay.io', { configDir: join(dir, 'nowhere'), env }), undefined);
    const broken = await writeConfig('missing-helper', { credsStore: 'absent' });
    await assert.rejects(dockerConfigLogin('quay.io', { configDir: broken, env }), (error: unknown) => error instanceof ToolboxError && /docker-credential-absent/.test(error.message));
  });
});
