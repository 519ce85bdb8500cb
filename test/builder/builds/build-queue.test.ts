import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BuildCancelled, BuildQueue } from '../../../src/builder/builds/build-queue.ts';

/** Work that runs until released or aborted, recording what happened. */
function gate() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const events: string[] = [];
  const work = (name: string) => async (signal: AbortSignal) => {
    events.push(`start ${name}`);
    await Promise.race([released, new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
    events.push(signal.aborted ? `abort ${name} (${(signal.reason as BuildCancelled).by})` : `end ${name}`);
  };
  return { release, events, work };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('build queue', () => {
  it('runs at most `concurrency` builds; the next starts when one ends', async () => {
    const queue = new BuildQueue(2);
    const { release, events, work } = gate();
    for (const name of ['a', 'b', 'c']) queue.enqueue(name, work(name));
    await tick();
    assert.deepEqual(events, ['start a', 'start b']);
    assert.deepEqual(queue.size, { pending: 1, running: 2 });
    release();
    await tick();
    await tick();
    assert.ok(events.includes('start c'));
    await queue.close();
  });

  it('cancel takes a pending build out and aborts a running one with who cancelled it', async () => {
    const queue = new BuildQueue(1);
    const { events, work } = gate();
    queue.enqueue('a', work('a'));
    queue.enqueue('b', work('b'));
    queue.enqueue('a', work('a-again'));
    await tick();
    assert.equal(queue.cancel('b', 'alice'), true);
    assert.equal(queue.cancel('a', 'bob'), true);
    await tick();
    assert.deepEqual(events, ['start a', 'abort a (bob)']);
    assert.equal(queue.cancel('nothing', 'bob'), false);
    await queue.close();
  });

  it('close aborts running work as a shutdown and waits for it', async () => {
    const queue = new BuildQueue(1);
    const { events, work } = gate();
    queue.enqueue('a', work('a'));
    await tick();
    await queue.close();
    assert.deepEqual(events, ['start a', 'abort a (shutdown)']);
  });
});
