/**
 * The store port's conformance suite: every Store adapter must pass it (BullMQ-style).
 * `storeConformance(name, make)` registers the tests for one adapter.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { NewJob, Store } from '../../src/adapters/store/store.js';
import { validateJobFile } from '../../src/spec/job-spec.js';

export function newJob(overrides: Partial<NewJob> = {}): NewJob {
  return {
    name: 'j', team: 't', owner: 'u', queue: 'default', spec: validateJobFile({ name: 'j', command: 'true' }), submittedAt: 1000, state: 'queued', reason: null,
    startedAt: null, finishedAt: null, attempts: 0, retries: 0, preemptions: 0, notBefore: 0, bindings: null, workers: [], exitCode: null, lastCheckpointAt: null,
    progress: null, idempotencyKey: null, requestHash: null, ...overrides,
  };
}

export function storeConformance(name: string, make: () => { store: Store; cleanup: () => void }): void {
  describe(`store conformance: ${name}`, () => {
    const withStore = (fn: (s: Store) => void) => () => {
      const { store, cleanup } = make();
      try {
        fn(store);
      } finally {
        cleanup();
      }
    };

    it('creates teams, users and finds users by token hash', withStore((s) => {
      s.createTeam('t', 1);
      s.createUser({ name: 'u', team: 't', admin: false, createdAt: 1 });
      s.addToken('h1', 'u', 1);
      assert.deepEqual(s.userByTokenHash('h1'), { name: 'u', team: 't', admin: false, createdAt: 1 });
      assert.equal(s.userByTokenHash('nope'), undefined);
      assert.throws(() => s.createUser({ name: 'u', team: 't', admin: false, createdAt: 1 }));
      assert.deepEqual(s.listTeams().map((t) => t.name), ['t']);
    }));

    it('inserts jobs with increasing ids and round-trips every field', withStore((s) => {
      const a = s.insertJob(newJob({ name: 'a' }));
      const b = s.insertJob(newJob({ name: 'b', bindings: [{ podId: 'x', node: 'n', cpuMilli: 1, memoryMiB: 2, gpus: [{ gpu: 0, milli: 500, memoryMiB: 10 }] }], progress: { step: 3, at: 5 } }));
      assert.ok(b.seq > a.seq);
      assert.match(a.id, /^job-\d+$/);
      assert.deepEqual(s.getJob(b.id), b);
      assert.equal(s.getJob('job-999'), undefined);
      assert.equal(s.getJob('not-an-id'), undefined);
    }));

    it('updates jobs and lists the active ones oldest first', withStore((s) => {
      const a = s.insertJob(newJob());
      const b = s.insertJob(newJob());
      a.state = 'succeeded';
      a.finishedAt = 9;
      s.updateJob(a);
      assert.deepEqual(s.activeJobs().map((j) => j.id), [b.id]);
      assert.equal(s.getJob(a.id)?.state, 'succeeded');
      assert.equal(s.countJobsByState().get('succeeded'), 1);
    }));

    it('lists jobs newest first with filters and a seq cursor', withStore((s) => {
      for (let i = 0; i < 5; i++) s.insertJob(newJob({ team: i % 2 ? 'x' : 'y' }));
      const page = s.listJobs({ limit: 2 });
      assert.equal(page.length, 2);
      assert.ok((page[0]?.seq ?? 0) > (page[1]?.seq ?? 0));
      const next = s.listJobs({ limit: 10, beforeSeq: page[1]?.seq ?? 0 });
      assert.equal(next.length, 3);
      assert.ok(s.listJobs({ limit: 10, team: 'x' }).every((j) => j.team === 'x'));
      assert.equal(s.listJobs({ limit: 10, states: ['running'] }).length, 0);
      // The ids alone, same filters and order.
      for (const q of [{ limit: 2 }, { limit: 10, beforeSeq: page[1]?.seq ?? 0 }, { limit: 10, team: 'x' }, { limit: 10, states: ['queued' as const] }]) {
        assert.deepEqual(s.listJobIds(q), s.listJobs(q).map((j) => j.id));
      }
      assert.equal(s.listJobIds({ limit: 10, team: 'x' }).length, 2);
    }));

    it('enforces one job per idempotency key and owner', withStore((s) => {
      const a = s.insertJob(newJob({ idempotencyKey: 'k', requestHash: 'h' }));
      assert.equal(s.jobByIdempotencyKey('u', 'k')?.id, a.id);
      assert.throws(() => s.insertJob(newJob({ idempotencyKey: 'k' })));
      assert.ok(s.insertJob(newJob({ owner: 'other', idempotencyKey: 'k' })));
    }));

    it('rolls back a failed transaction entirely', withStore((s) => {
      assert.throws(() => s.transaction(() => {
        s.insertJob(newJob());
        throw new Error('boom');
      }));
      assert.equal(s.listJobs({ limit: 10 }).length, 0);
    }));

    it('keeps an append-only audit log', withStore((s) => {
      s.appendAudit({ at: 1, actor: 'a', action: 'x', target: 't', source: '127.0.0.1', detail: { k: 1 } });
      s.appendAudit({ at: 2, actor: 'b', action: 'y', target: 't', source: '127.0.0.1', detail: null });
      const all = s.listAudit(0, 10);
      assert.equal(all.length, 2);
      assert.deepEqual(all[0]?.detail, { k: 1 });
      assert.equal(s.listAudit(all[0]?.id ?? 0, 10).length, 1);
    }));

    it('stores queues, node states and meta', withStore((s) => {
      s.putQueue({ name: 'q', team: null, parent: null, guaranteedGpus: 2, limitGpus: null, weight: 1, priorityOrdering: true });
      assert.equal(s.getQueue('q')?.guaranteedGpus, 2);
      s.setNodeState({ name: 'n', cordoned: true, draining: false });
      assert.deepEqual(s.nodeStates(), [{ name: 'n', cordoned: true, draining: false }]);
      s.setMeta('k', 'v');
      assert.equal(s.getMeta('k'), 'v');
    }));

    it('stores GPU health set by an admin, one row per GPU (the last word wins)', withStore((s) => {
      s.setGpuHealth({ node: 'n', uuid: 'GPU-a', healthy: false, at: 1, by: 'admin' });
      s.setGpuHealth({ node: 'n', uuid: 'GPU-b', healthy: false, at: 2, by: 'admin' });
      s.setGpuHealth({ node: 'n', uuid: 'GPU-a', healthy: true, at: 3, by: 'ops' });
      assert.deepEqual(s.gpuHealth(), [
        { node: 'n', uuid: 'GPU-a', healthy: true, at: 3, by: 'ops' },
        { node: 'n', uuid: 'GPU-b', healthy: false, at: 2, by: 'admin' },
      ]);
    }));
  });
}
