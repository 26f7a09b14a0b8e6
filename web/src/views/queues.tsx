/**
 * Queues: each queue's guarantee, fair share (deserved), use and what it borrows beyond its
 * guarantee, its pending work and why the first queued jobs wait; and charts of use, borrowing
 * and idle reserved GPUs over time (/v1/history, kept by the server).
 */
import { useMemo } from 'preact/hooks';
import type { AnswerOf } from '../../../src/client/contract-types.js';
import { call } from '../api.js';
import { useLoad } from '../hooks.js';
import { gpus } from '../format.js';
import { HistoryChart } from '../history.js';

type Queue = AnswerOf<'listQueues'>['items'][number];

export function borrowed(q: Queue): number {
  return Math.max(0, q.usedGpus - (q.guaranteedGpus ?? 0));
}

function UseBar(props: { q: Queue }) {
  const { q } = props;
  const scale = Math.max(q.usedGpus, q.guaranteedGpus ?? 0, q.deservedGpus, q.limitGpus ?? 0, 1) * 1.05; // the guarantee's mark stays inside
  const g = q.guaranteedGpus ?? 0;
  return (
    <div class="bar" title={`used ${gpus(q.usedGpus)}, guaranteed ${gpus(g)}, deserved ${gpus(q.deservedGpus)}`}>
      <span style={`width:${(Math.min(q.usedGpus, g) / scale) * 100}%`} />
      {q.usedGpus > g ? <span class="over" style={`left:${(g / scale) * 100}%;width:${((q.usedGpus - g) / scale) * 100}%`} /> : null}
      {g > 0 ? <em style={`left:${(g / scale) * 100}%`} /> : null}
    </div>
  );
}

export function QueuesView() {
  const queues = useLoad(() => call('listQueues'), [], (e) => e.type === 'queues');
  const pending = useLoad(() => call('listJobs', { query: { state: 'queued', limit: 500 } }), [], (e) => e.type === 'queues' || (e.type === 'job' && e.state === 'queued'));
  const items = queues.data?.items ?? [];
  const waiting = useMemo(() => {
    const by = new Map<string, AnswerOf<'listJobs'>['items']>();
    for (const j of pending.data?.items ?? []) by.set(j.queue, [...(by.get(j.queue) ?? []), j]);
    return by;
  }, [pending.data]);
  return (
    <>
      <h1>Queues</h1>
      {queues.error ? <p class="err">{queues.error.message}</p> : null}
      <table data-testid="queue-table">
        <thead>
          <tr>
            <th>Queue</th>
            <th>Team</th>
            <th class="num">Guaranteed</th>
            <th class="num">Limit</th>
            <th class="num">Deserved</th>
            <th class="num">Used</th>
            <th class="num">Borrowed</th>
            <th>Use vs guarantee</th>
            <th class="num">Running</th>
            <th class="num">Pending (GPUs)</th>
          </tr>
        </thead>
        <tbody>
          {items.map((q) => (
            <tr data-queue={q.name}>
              <td>
                {q.parent ? <span class="muted">{q.parent} / </span> : null}
                <a href={`#/jobs?queue=${encodeURIComponent(q.name)}`}>{q.name}</a>
                {q.aggregateOnly ? <span class="muted" title="another team's queue: figures only"> (other team)</span> : null}
              </td>
              <td>{q.team ?? <span class="muted">any</span>}</td>
              <td class="num">{gpus(q.guaranteedGpus)}</td>
              <td class="num">{q.limitGpus === null ? '∞' : gpus(q.limitGpus)}</td>
              <td class="num">{gpus(q.deservedGpus)}</td>
              <td class="num">{gpus(q.usedGpus)}</td>
              <td class="num">{borrowed(q) > 0 ? <span class="warn">{gpus(borrowed(q))}</span> : '0'}</td>
              <td>
                <UseBar q={q} />
              </td>
              <td class="num">{q.running}</td>
              <td class="num">
                {q.pending} ({gpus(q.pendingGpus)})
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <HistoryChart title="GPUs used by queue" query={{ kind: 'queue', metric: 'used' }} yLabel="GPUs" testid="queue-chart" label={(s) => s.key} />
      <HistoryChart title="Borrowed and idle reserved GPUs" query={{ kind: 'queue', metric: 'borrowed,idle' }} yLabel="GPUs" testid="queue-borrowed-chart" />
      <h2>Pending jobs and why they wait</h2>
      {waiting.size === 0 ? <p class="muted">No job waits{pending.data?.nextCursor ? '' : '.'}</p> : null}
      {[...waiting.entries()].map(([queue, jobs]) => (
        <div class="card" data-pending-queue={queue}>
          <b>{queue}</b> <span class="muted">{jobs.length} waiting</span>
          <ul class="reasons">
            {jobs.slice(0, 10).map((j) => (
              <li>
                <a href={`#/jobs/${encodeURIComponent(j.id)}`}>{j.name}</a> <span class="muted">({j.id})</span>: {j.waitingFor[0] ? `${j.waitingFor[0].kind}: ${j.waitingFor[0].message}` : (j.reason ?? 'waiting for the next scheduling cycle')}
              </li>
            ))}
            {jobs.length > 10 ? <li class="muted">and {jobs.length - 10} more</li> : null}
          </ul>
        </div>
      ))}
    </>
  );
}
