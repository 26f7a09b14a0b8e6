/**
 * One job: its state and timeline, why it waits (explain), its placement, progress (with a
 * chart of what was reported while the page is open), the live log of a worker, and its spec.
 * Another team's job is "not found", as the API answers it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { AnswerOf } from '../../../src/client/contract-types.js';
import { ApiError, call, callText } from '../api.js';
import { subscribe } from '../live.js';
import { useLoad } from '../hooks.js';
import { ago } from '../format.js';
import { Chart } from '../chart.js';
import { HistoryChart } from '../history.js';
import { jobGpus } from './jobs.js';

type Job = AnswerOf<'getJob'>;
const LOG_LIMIT = 256 * 1024;

function Log(props: { id: string; workers: number }) {
  const [worker, setWorker] = useState(0);
  const [text, setText] = useState('');
  const [finished, setFinished] = useState(false);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    let offset = 0;
    let stop = false;
    let timer: ReturnType<typeof setTimeout> | null = null;
    setText('');
    setFinished(false);
    const read = async (): Promise<void> => {
      try {
        const r = await callText('getJobLogs', { params: { id: props.id }, query: { worker, offset, limit: LOG_LIMIT } });
        if (stop) return;
        offset = Number(r.headers.get('x-next-offset') ?? offset);
        if (r.text) setText((t) => (t + r.text).slice(-2_000_000));
        const done = r.headers.get('x-job-finished') === 'true';
        setFinished(done);
        if (!done || r.text.length === LOG_LIMIT) timer = setTimeout(() => void read(), r.text.length === LOG_LIMIT ? 0 : 1000);
      } catch {
        if (!stop) timer = setTimeout(() => void read(), 3000);
      }
    };
    void read();
    return () => {
      stop = true;
      if (timer) clearTimeout(timer);
    };
  }, [props.id, worker]);
  useEffect(() => {
    const p = pre.current;
    if (p) p.scrollTop = p.scrollHeight;
  }, [text]);
  return (
    <div class="card">
      <div class="toolbar" style="margin-bottom:.4rem">
        <h2 style="margin:0">Log</h2>
        {props.workers > 1 ? (
          <select value={worker} onChange={(e) => setWorker(Number((e.target as HTMLSelectElement).value))} aria-label="worker">
            {Array.from({ length: props.workers }, (_, i) => (
              <option value={i}>worker {i}</option>
            ))}
          </select>
        ) : null}
        <span class="muted">{finished ? 'finished' : 'following…'}</span>
      </div>
      <pre ref={pre} data-testid="job-log">
        {text || '(empty)'}
      </pre>
    </div>
  );
}

function Explain(props: { id: string; state: string }) {
  const ex = useLoad(() => call('explainJob', { params: { id: props.id } }), [props.id, props.state]);
  const e = ex.data;
  if (!e || e.state !== 'queued') return null;
  return (
    <div class="card" data-testid="job-explain">
      <h2 style="margin-top:0">Why it waits</h2>
      <ul class="reasons">
        {e.reasons.map((r) => (
          <li>
            <b>{r.kind}</b>: {r.message}
            {r.reasons && r.reasons.length > 0 ? (
              <ul>
                {r.reasons.map((x) => (
                  <li class="muted">
                    {x.code}: {x.message} ({x.nodes} node{x.nodes === 1 ? '' : 's'})
                  </li>
                ))}
              </ul>
            ) : null}
          </li>
        ))}
      </ul>
      <p class="muted">
        {e.queuePosition !== null && e.queuePosition !== undefined ? `Position ${e.queuePosition} in its queue. ` : ''}
        {e.estimatedStart ? `Estimated start ${new Date(e.estimatedStart).toLocaleString()}. ` : ''}
        {e.estimateNote ?? ''}
      </p>
    </div>
  );
}

interface Seen {
  at: number;
  state: string;
  reason: string | null;
}

export function JobView(props: { id: string }) {
  const job = useLoad(() => call('getJob', { params: { id: props.id } }), [props.id], (e) => e.type === 'job' && e.id === props.id);
  const [seen, setSeen] = useState<Seen[]>([]);
  const [progress, setProgress] = useState<{ at: number; step: number | null; loss: number | null }[]>([]);
  const [busy, setBusy] = useState(false);
  useEffect(() => subscribe((e) => (e.type === 'job' && e.id === props.id ? setSeen((s) => [...s, { at: Date.now(), state: e.state, reason: e.reason }]) : undefined)), [props.id]);
  const j: Job | undefined = job.data;
  useEffect(() => {
    const p = j?.progress;
    if (!p) return;
    const at = Date.parse(p.at) / 1000;
    setProgress((list) => (list.length > 0 && list[list.length - 1]!.at === at ? list : [...list, { at, step: p.step ?? null, loss: p.loss ?? null }]));
  }, [j?.progress?.at]);
  // Progress is not pushed when the state stays the same: read the job every 5 s while it runs.
  useEffect(() => {
    if (j?.state !== 'running') return;
    const t = setInterval(() => job.reload(), 5000);
    return () => clearInterval(t);
  }, [j?.state]);
  if (job.error) {
    const notFound = job.error instanceof ApiError && job.error.code === 'JOB_NOT_FOUND';
    return (
      <div class="card" data-testid="job-error">
        <h1>{props.id}</h1>
        <p class="err">{notFound ? 'No such job (or not one of your team\'s).' : job.error.message}</p>
        <a href="#/jobs">All jobs</a>
      </div>
    );
  }
  if (!j) return <p class="muted">loading…</p>;
  const timeline: [string, string | null][] = [
    ['submitted', j.submittedAt],
    ['started', j.startedAt],
    ['last checkpoint', j.lastCheckpointAt],
    ['finished', j.finishedAt],
  ];
  const cancel = async () => {
    setBusy(true);
    try {
      await call('cancelJob', { params: { id: j.id } });
      job.reload();
    } catch (e) {
      alert(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const active = j.state === 'queued' || j.state === 'running' || j.state === 'preempting';
  return (
    <>
      <div class="toolbar">
        <h1 style="margin:0">
          {j.name} <span class="muted">{j.id}</span>
        </h1>
        <span class={`pill s-${j.state}`} data-testid="job-state">
          {j.state}
        </span>
        {j.reason ? <span class="muted">{j.reason}</span> : null}
        {active ? (
          <button class="btn danger" disabled={busy} onClick={() => void cancel()}>
            Cancel
          </button>
        ) : null}
      </div>
      <div class="grid2">
        <div class="card">
          <dl class="kv">
            <dt>Team / owner</dt>
            <dd>
              {j.team} / {j.owner}
            </dd>
            <dt>Queue</dt>
            <dd>
              <a href={`#/jobs?queue=${encodeURIComponent(j.queue)}`}>{j.queue}</a>
            </dd>
            <dt>GPUs</dt>
            <dd>{jobGpus(j)}</dd>
            <dt>Priority</dt>
            <dd>
              {j.priority}
              {j.preemptible ? ' · preemptible' : ''}
            </dd>
            <dt>Attempts</dt>
            <dd>
              {j.attempts} (retries {j.retries}, preemptions {j.preemptions})
            </dd>
            <dt>Exit code</dt>
            <dd>{j.exitCode ?? '–'}</dd>
            {timeline.map(([k, v]) => (
              <>
                <dt>{k}</dt>
                <dd title={v ?? ''}>{v ? `${new Date(v).toLocaleString()} (${ago(v)})` : '–'}</dd>
              </>
            ))}
          </dl>
          {seen.length > 0 ? (
            <>
              <h2>Seen live</h2>
              <ul data-testid="job-events">
                {seen.map((s) => (
                  <li>
                    {new Date(s.at).toLocaleTimeString()} {s.state}
                    {s.reason ? ` (${s.reason})` : ''}
                  </li>
                ))}
              </ul>
            </>
          ) : null}
        </div>
        <div>
          <Explain id={j.id} state={j.state} />
          <div class="card">
            <h2 style="margin-top:0">Placement</h2>
            {j.placement.length === 0 ? <p class="muted">not placed</p> : null}
            <table>
              {j.placement.map((p) =>
                p.gpus.map((g) => (
                  <tr>
                    <td>rank {p.rank}</td>
                    <td>{p.node}</td>
                    <td>GPU {g.index}</td>
                    <td>{g.model ?? ''}</td>
                    <td>{g.mig ? `MIG ${g.mig}` : g.milli < 1000 ? `${g.milli / 1000} share` : 'whole'}</td>
                  </tr>
                )),
              )}
            </table>
          </div>
          {j.startedAt ? (
            <>
              <HistoryChart title="GPU utilisation" query={{ kind: 'job', key: j.id, metric: 'util' }} yLabel="%" testid="job-gpu-chart" label={() => 'utilisation %'} initial="15m" height={160} />
              <HistoryChart title="GPUs held and idle" query={{ kind: 'job', key: j.id, metric: 'gpus,idle' }} yLabel="GPUs" testid="job-idle-chart" label={(s) => (s.metric === 'idle' ? 'idle (held, unused)' : 'held')} initial="15m" height={160} />
            </>
          ) : null}
          <div class="card">
            <h2 style="margin-top:0">Progress</h2>
            {j.progress ? (
              <p data-testid="job-progress">
                step {j.progress.step ?? '–'} · loss {j.progress.loss ?? '–'} · {j.progress.samplesPerSec ?? '–'} samples/s <span class="muted">({ago(j.progress.at)})</span>
              </p>
            ) : (
              <p class="muted">none reported (POST /v1/jobs/{'{id}'}/progress)</p>
            )}
            {progress.length > 1 ? <Chart x={progress.map((p) => p.at)} series={[{ label: 'loss', values: progress.map((p) => p.loss) }]} height={160} /> : null}
          </div>
        </div>
      </div>
      <Log id={j.id} workers={j.workers} />
      <div class="card">
        <h2 style="margin-top:0">Spec</h2>
        <pre class="json">{JSON.stringify(j.spec, null, 2)}</pre>
      </div>
    </>
  );
}
