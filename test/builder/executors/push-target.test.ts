import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BuildFailed } from '../../../src/builder/executors/build-executor.ts';
import { checkLogins, parsePushTarget } from '../../../src/builder/executors/push-target.ts';

describe('parsePushTarget', () => {
  it('splits registry, repository and tag', () => {
    assert.deepEqual(parsePushTarget('127.0.0.1:5000/studio/app/x:abc-1'), { registry: '127.0.0.1:5000', repository: 'studio/app/x', tag: 'abc-1' });
    assert.deepEqual(parsePushTarget('berth.example.org/ws/app'), { registry: 'berth.example.org', repository: 'ws/app', tag: 'latest' });
    assert.deepEqual(parsePushTarget('localhost/ws/app:1'), { registry: 'localhost', repository: 'ws/app', tag: '1' });
    assert.deepEqual(parsePushTarget('library/ubuntu:22.04'), { registry: 'docker.io', repository: 'library/ubuntu', tag: '22.04' });
  });

  it('refuses digests, bad tags and malformed names with BuildFailed', () => {
    for (const target of ['127.0.0.1:5000/ws/app@sha256:abc', '127.0.0.1:5000/ws/app:bad tag', '127.0.0.1:5000/ws/App:1', '127.0.0.1:5000/:1', 'bad"host:1/ws/app:1']) {
      assert.throws(() => parsePushTarget(target), (error: unknown) => error instanceof BuildFailed && /invalid push target/.test(error.message), target);
    }
  });

  it('refuses logins whose registry is not a host (they would be written into config files)', () => {
    const login = { username: 'u', password: 'p', insecure: true };
    checkLogins([{ ...login, registry: '127.0.0.1:5000' }, { ...login, registry: '[::1]:5000' }, { ...login, registry: 'docker.io' }]);
    assert.throws(() => checkLogins([{ ...login, registry: 'evil"\n[[registry]]' }]), BuildFailed);
  });
});
