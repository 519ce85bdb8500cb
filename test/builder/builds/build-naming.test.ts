import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { buildIdOf, containerIdOf, targetImageOf } from '../../../src/builder/builds/build-naming.ts';

const identity = { dockerfile: 'FROM a\n', condaFile: null, platform: 'linux/amd64', repository: 'h:1/ws/builds', contextDigest: null };

describe('build naming', () => {
  it('the container id is stable and changes with every input that determines the image', () => {
    const id = containerIdOf(identity);
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.equal(containerIdOf({ ...identity }), id);
    for (const change of [
      { dockerfile: 'FROM b\n' },
      { condaFile: 'dependencies: [x]\n' },
      { platform: 'linux/arm64' },
      { repository: 'h:1/ws/other' },
      { contextDigest: 'sha256:00' },
    ]) {
      assert.notEqual(containerIdOf({ ...identity, ...change }), id, JSON.stringify(change));
    }
    // Fields are length-prefixed: moving text from one field into the next changes the id.
    assert.notEqual(containerIdOf({ ...identity, dockerfile: 'FROM a\nx', condaFile: '' }), containerIdOf({ ...identity, dockerfile: 'FROM a\n', condaFile: 'x' }));
  });

  it('build ids number attempts as Wave does', () => {
    assert.equal(buildIdOf('0123456789abcdef', 2), 'bd-0123456789abcdef_2');
  });

  it('nameStrategy: tagPrefix (default), imageSuffix and none', () => {
    const conda = 'channels: [bioconda]\ndependencies:\n  - bioconda::samtools=1.19\n  - bwa=0.7.17\n';
    assert.equal(targetImageOf('h/ws/b', 'abc', conda), 'h/ws/b:samtools-1.19_bwa-0.7.17--abc');
    assert.equal(targetImageOf('h/ws/b', 'abc', conda, 'imageSuffix'), 'h/ws/b/samtools_bwa:abc');
    assert.equal(targetImageOf('h/ws/b', 'abc', 'dependencies: [samtools=1.19]\n', 'imageSuffix'), 'h/ws/b/samtools:1.19--abc');
    assert.equal(targetImageOf('h/ws/b', 'abc', conda, 'none'), 'h/ws/b:abc');
    assert.equal(targetImageOf('h/ws/b', 'abc', 'name: rnaseq\ndependencies: [x]\n'), 'h/ws/b:rnaseq--abc');
    assert.equal(targetImageOf('h/ws/b', 'abc', null, 'imageSuffix'), 'h/ws/b:abc');
  });
});
