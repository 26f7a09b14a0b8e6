/**
 * Lease election rules with an in-memory Lease store that behaves like the apiserver's
 * optimistic concurrency (a write with a stale resourceVersion gets 409). The same elector
 * runs against the real apiserver in test/k8s/e2e.test.ts (failover of scheduler processes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, type ClusterWrites, type LeaseRecord } from '../../src/adapters/k8s/api.js';
import { LeaderElector } from '../../src/adapters/k8s/leader.js';

class MemoryLeases {
  lease: LeaseRecord | null = null;
  private rv = 0;
  /** Replicas whose requests fail (cut off from the apiserver). */
  readonly cutOff = new Set<string>();
  forReplica(id: string): Pick<ClusterWrites, 'getLease' | 'writeLease'> {
    return {
      getLease: async () => {
        if (this.cutOff.has(id)) throw new ApiError(0, 'connection refused');
        return this.lease;
      },
      writeLease: async (_ns, _name, l, rv) => {
        if (this.cutOff.has(id)) throw new ApiError(0, 'connection refused');
        if ((rv === null && this.lease !== null) || (rv !== null && rv !== this.lease?.resourceVersion)) throw new ApiError(409, 'conflict');
        this.lease = { ...l, resourceVersion: String(++this.rv) };
      },
    };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
// The Lease holds whole seconds: 2 s lease, renewed every 100 ms, given up after 800 ms without
// renewal. The checks below leave 400 ms or more of slack for a loaded machine.
const timing = { namespace: 'ns', name: 'lease', leaseDurationMs: 2000, renewDeadlineMs: 800, retryPeriodMs: 100 };

test('one of two replicas leads; the other takes over only after the lease expires', async () => {
  const store = new MemoryLeases();
  const events: string[] = [];
  const a = new LeaderElector(store.forReplica('a'), { ...timing, identity: 'a' }, () => events.push('a+'), () => events.push('a-'));
  a.start();
  await sleep(100);
  const b = new LeaderElector(store.forReplica('b'), { ...timing, identity: 'b' }, () => events.push('b+'), () => events.push('b-'));
  b.start();
  try {
    await sleep(1200);
    assert.deepEqual(events, ['a+'], 'b stays a standby while a renews');
    assert.equal(store.lease?.holder, 'a');
    // a loses the apiserver: it stops leading after the renew deadline, before b may take over.
    store.cutOff.add('a');
    const cut = Date.now();
    await sleep(1300);
    assert.deepEqual(events, ['a+', 'a-'], 'a gave up; b waits for the lease to expire');
    await sleep(1500);
    assert.deepEqual(events, ['a+', 'a-', 'b+']);
    assert.equal(store.lease?.holder, 'b');
    assert.equal(store.lease?.transitions, 1);
    assert.ok(a.isLeader === false && b.isLeader === true);
    assert.ok(Date.now() - cut >= timing.leaseDurationMs);
    store.cutOff.delete('a');
    await a.stop();
    await b.stop();
    assert.equal(store.lease?.holder, '', 'a leader that stops releases the lease');
  } finally {
    await a.stop();
    await b.stop();
  }
});

test('a renew deadline not shorter than the lease is refused', () => {
  const store = new MemoryLeases();
  assert.throws(() => new LeaderElector(store.forReplica('x'), { ...timing, identity: 'x', renewDeadlineMs: 2000 }, () => undefined, () => undefined), /renew deadline/);
});

test('fencing: the leader may write only within the renew deadline of its last renewal, by the monotonic clock', async () => {
  const store = new MemoryLeases();
  let mono = 0;
  const events: string[] = [];
  // A long retry period: no renewal happens during the test after the first acquisition.
  const a = new LeaderElector(store.forReplica('a'), { ...timing, retryPeriodMs: 60_000, identity: 'a', monotonic: () => mono }, () => events.push('a+'), () => events.push('a-'));
  a.start();
  try {
    await sleep(50);
    assert.deepEqual(events, ['a+']);
    assert.equal(a.mayWrite, true);
    assert.deepEqual(a.epoch, { holder: 'a', transitions: 0 });
    // The process was paused (or its loop blocked) past the renew deadline: no write, at once,
    // before any timer of its own has run.
    mono += timing.renewDeadlineMs;
    assert.equal(a.mayWrite, false);
  } finally {
    await a.stop();
  }
});

test('a leader whose renewal hangs steps down at the deadline and stands by', async () => {
  const store = new MemoryLeases();
  const events: string[] = [];
  let hang = false;
  const api = store.forReplica('a');
  const hanging: typeof api = {
    getLease: (...args) => (hang ? new Promise(() => undefined) : api.getLease(...args)),
    writeLease: (...args) => api.writeLease(...args),
  };
  const a = new LeaderElector(hanging, { ...timing, identity: 'a' }, () => events.push('a+'), () => events.push('a-'));
  a.start();
  try {
    await sleep(300);
    assert.deepEqual(events, ['a+']);
    hang = true;
    await sleep(timing.renewDeadlineMs + 400);
    assert.deepEqual(events, ['a+', 'a-'], 'stepped down although its renewal call never answered');
    assert.equal(a.mayWrite, false);
  } finally {
    await a.stop();
  }
});
