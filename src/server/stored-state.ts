/**
 * What the server refuses to load, and how it starts anyway. A queue tree must have every
 * parent present and no cycle; a job must read back, validate, and sit in a leaf queue that
 * loads. A change through the API that would break this is refused (`queueChangeProblem`).
 * State already stored that breaks it (an older version, a hand edit, a bug) is reported and
 * hidden from the controller (`screenStoredState`): the server starts, the bad rows stay in
 * the database untouched, and a running job among them keeps running (unmanaged) instead of
 * being killed.
 */
import type { QueueRow, Store } from '../adapters/store/store.js';
import { validateJobFile } from '../spec/job-spec.js';

/** Queues that cannot load: a missing parent, a cycle, or an ancestor that cannot load. */
export function unloadableQueues(rows: readonly QueueRow[]): Map<string, string> {
  const byName = new Map(rows.map((q) => [q.name, q]));
  const bad = new Map<string, string>();
  for (const q of rows) {
    const seen = new Set<string>([q.name]);
    for (let p = q.parent; p !== null; ) {
      if (seen.has(p)) {
        bad.set(q.name, `its parent chain has a cycle through "${p}"`);
        break;
      }
      seen.add(p);
      const parent = byName.get(p);
      if (!parent) {
        bad.set(q.name, `${p === q.parent ? 'its parent' : 'an ancestor'} "${p}" does not exist`);
        break;
      }
      p = parent.parent;
    }
  }
  return bad;
}

/**
 * Why replacing/adding `row` would leave the queues unloadable, or null. `activeJobsIn`
 * counts a queue's unfinished jobs (a queue that holds jobs cannot become a parent).
 */
export function queueChangeProblem(rows: readonly QueueRow[], row: QueueRow, activeJobsIn: (queue: string) => number): string | null {
  const next = [...rows.filter((q) => q.name !== row.name), row];
  if (row.parent !== null && !next.some((q) => q.name === row.parent)) return `parent "${row.parent}" does not exist`;
  const bad = unloadableQueues(next).get(row.name);
  if (bad) return `queue "${row.name}": ${bad}`;
  if (row.parent !== null) {
    const held = activeJobsIn(row.parent);
    if (held > 0) return `queue "${row.parent}" holds ${held} unfinished job(s); a queue with jobs cannot get child queues (jobs run only in leaf queues)`;
  }
  return null;
}

export interface StoredStateReport {
  /** One line per problem, for the log, the banner and /v1/status. */
  readonly problems: readonly string[];
  /** The store as the controller and API should see it: bad queues and jobs left out. */
  readonly store: Store;
}

export function screenStoredState(store: Store): StoredStateReport {
  const problems: string[] = [];
  const rows = store.listQueues();
  const badQueues = unloadableQueues(rows);
  for (const [name, why] of badQueues) problems.push(`queue "${name}" is not loaded: ${why}`);
  const good = rows.filter((q) => !badQueues.has(q.name));
  const parents = new Set(good.flatMap((q) => (q.parent === null ? [] : [q.parent])));
  const goodNames = new Set(good.map((q) => q.name));

  const { jobs, unreadable } = store.scanActiveJobs();
  const badJobs = new Set<string>();
  for (const u of unreadable) {
    badJobs.add(u.id);
    problems.push(`job ${u.id} (${u.state}) is not loaded: its row does not read back (${u.error})${u.state === 'queued' ? '' : '; its processes, if any, keep running unmanaged'}`);
  }
  for (const j of jobs) {
    let why: string | null = null;
    try {
      validateJobFile(j.spec);
    } catch (e) {
      why = `its spec no longer validates (${(e as Error).message.split('\n')[0] ?? ''})`;
    }
    if (why === null && !goodNames.has(j.queue)) why = `its queue "${j.queue}" ${badQueues.has(j.queue) ? 'is not loaded' : 'does not exist'}`;
    if (why === null && parents.has(j.queue)) why = `its queue "${j.queue}" has child queues (jobs run only in leaf queues)`;
    if (why === null) continue;
    badJobs.add(j.id);
    problems.push(`job ${j.id} (${j.state}) is not loaded: ${why}${j.state === 'queued' ? '' : '; its processes, if any, keep running unmanaged'}`);
  }
  if (problems.length === 0) return { problems, store };

  // Queues are re-screened on each read, so that a queue the admin repairs (PUT) loads at once.
  const screened = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'listQueues') {
        return () => {
          const all = target.listQueues();
          const bad = unloadableQueues(all);
          return all.filter((q) => !bad.has(q.name));
        };
      }
      if (prop === 'activeJobs') return () => target.scanActiveJobs().jobs.filter((j) => !badJobs.has(j.id));
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { problems, store: screened };
}
