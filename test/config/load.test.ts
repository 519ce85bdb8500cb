import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';

async function withFile(text: string, body: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-config-'));
  try {
    const file = join(dir, 'berth.yaml');
    await writeFile(file, text);
    await body(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('configuration', () => {
  it('has embedded defaults', async () => {
    const config = await loadConfig({ env: {} });
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.host, '127.0.0.1');
    assert.equal(config.registry.maxManifestBytes, 4 * 1024 * 1024);
    assert.equal(config.database.url, undefined);
  });

  it('layers file, environment and flags in rising precedence', () =>
    withFile('server:\n  port: 9000\n  host: 0.0.0.0\nregistry:\n  tokenTtlS: 600\n', async (file) => {
      const config = await loadConfig({ file, env: { BERTH_PORT: '9100' }, overrides: { server: { host: '127.0.0.2' } } });
      assert.equal(config.server.port, 9100);
      assert.equal(config.server.host, '127.0.0.2');
      assert.equal(config.registry.tokenTtlS, 600);
    }));

  it('stops at an unknown key in the file, naming it', () =>
    withFile('server:\n  prot: 9000\n', async (file) => {
      await assert.rejects(loadConfig({ file, env: {} }), (e: Error) => e instanceof ConfigError && e.message.includes('server.prot: unknown key'));
    }));

  it('stops at a wrongly typed value, naming the field', () =>
    withFile('server:\n  port: "eighty"\n', async (file) => {
      await assert.rejects(loadConfig({ file, env: {} }), (e: Error) => e instanceof ConfigError && e.message.includes('server.port'));
    }));

  it('stops at an unknown BERTH_ variable', async () => {
    await assert.rejects(loadConfig({ env: { BERTH_PROT: '1' } }), (e: Error) => e instanceof ConfigError && e.message.includes('BERTH_PROT'));
  });

  it('reports YAML syntax errors with their line', () =>
    withFile('server:\n  port: [1,\n', async (file) => {
      await assert.rejects(loadConfig({ file, env: {} }), (e: Error) => e instanceof ConfigError && /line \d/.test(e.message));
    }));

  it('rejects an out-of-range port from the environment', async () => {
    await assert.rejects(loadConfig({ env: { BERTH_PORT: '70000' } }), /server\.port/);
  });
});
