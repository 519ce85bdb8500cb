import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AugmentError } from '../../../src/builder/augment/augment-errors.ts';
import { augmentConfig, validateChanges, type ImageConfig } from '../../../src/builder/augment/image-config.ts';

const created = '2025-01-02T03:04:05.000Z';
const layer = { digest: `sha256:${'a'.repeat(64)}`, diffId: `sha256:${'b'.repeat(64)}` } as const;
const base: ImageConfig = {
  architecture: 'arm64',
  os: 'linux',
  created: '2024-01-01T00:00:00Z',
  config: { Env: ['PATH=/bin', 'LANG=C'], Cmd: ['/bin/sh'], Labels: { keep: 'yes' }, User: '1000' },
  rootfs: { type: 'layers', diff_ids: [`sha256:${'c'.repeat(64)}`] },
  history: [{ created_by: 'base layer' }],
};
const invalid = (pattern: RegExp) => (error: unknown) => error instanceof AugmentError && error.kind === 'InvalidRequest' && pattern.test(error.message);

describe('augmentConfig', () => {
  it('appends the diffID and history, replaces env keys in place and appends new ones, keeps the rest', () => {
    const config = augmentConfig(base, [layer], { env: ['LANG=C.UTF-8', 'AGENT=1', 'AGENT=2'], workdir: '/work', labels: { added: 'x' } }, created);
    assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [`sha256:${'c'.repeat(64)}`, layer.diffId] });
    assert.deepEqual(config.config, { Env: ['PATH=/bin', 'LANG=C.UTF-8', 'AGENT=2'], Cmd: ['/bin/sh'], Labels: { keep: 'yes', added: 'x' }, User: '1000', WorkingDir: '/work' });
    assert.deepEqual(config.history, [
      { created_by: 'base layer' },
      { created, created_by: `berth augment: add layer ${layer.digest}` },
      { created, created_by: 'berth augment: set env LANG,AGENT,AGENT; workdir /work; labels added', empty_layer: true },
    ]);
    assert.equal(config.architecture, 'arm64');
    assert.equal(config.created, created);
    assert.deepEqual(base.config?.Env, ['PATH=/bin', 'LANG=C'], 'the base is not modified');
  });

  it('replaces entrypoint and cmd independently; an entrypoint alone keeps the base cmd', () => {
    assert.deepEqual(augmentConfig(base, [], { entrypoint: ['/agent'] }, created).config, { ...base.config, Entrypoint: ['/agent'] });
    assert.deepEqual(augmentConfig(base, [], { entrypoint: [], cmd: ['run'] }, created).config, { ...base.config, Entrypoint: [], Cmd: ['run'] });
  });

  it('leaves history out when the base has none, and refuses a config without diff_ids', () => {
    const { history: _history, ...withoutHistory } = base;
    assert.equal(augmentConfig(withoutHistory, [layer], {}, created).history, undefined);
    assert.throws(() => augmentConfig({ config: {} }, [layer], {}, created), (error: unknown) => error instanceof AugmentError && error.kind === 'Unsupported');
  });
});

describe('validateChanges', () => {
  it('refuses env entries that are not KEY=VALUE, and a relative workdir', () => {
    validateChanges({ env: ['A=', 'B=x=y', 'lower_case.dots=1'] });
    assert.throws(() => validateChanges({ env: ['NOEQUALS'] }), invalid(/"NOEQUALS" must look like KEY=VALUE/));
    assert.throws(() => validateChanges({ env: ['=value'] }), invalid(/KEY=VALUE/));
    assert.throws(() => validateChanges({ env: ['TWO WORDS=1'] }), invalid(/KEY=VALUE/));
    assert.throws(() => validateChanges({ workdir: 'relative' }), invalid(/absolute path/));
  });
});
