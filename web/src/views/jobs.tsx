/**
 * Jobs: a list with filters (state and queue, applied by the API) and a search (name, id,
 * owner, team; in the browser, over every job loaded). The list loads page after page in the
 * background and draws only the rows in view, so 10,000 jobs scroll like 50. Job changes
 * pushed by the server update rows in place and bring new jobs in without a reload; no read
 * (a pushed change, a new filter) empties the list before its answer arrives.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { AnswerOf } from '../../../src/client/contract-types.js';
import { ACTIVE_STATES, JOB_STATES, TERMINAL_STATES } from '../../../src/adapters/store/store.js';
import { call } from '../api.js';
import { subscribe } from '../live.js';
import { useLoad } from '../hooks.js';
import { ago } from '../format.js';

export type JobSummary = AnswerOf<'listJobs'>['items'][number];

const ROW = 30;
const FIRST_PAGE = 200;
const PAGE = 500;
/** Beyond this many the list stops loading (the search then says it covers the newest only). */
const MAX_LOADED = 50_000;

function inState(filter: string, state: string): boolean {
  if (filter === '') return true;
  if (filter === 'active') return (ACTIVE_STATES as readonly string[]).includes(state);
  if (filter === 'finished') return (TERMINAL_STATES as readonly string[]).includes(state);
  return filter === state;
}

export function jobGpus(j: JobSummary): string {
  const r = j.resources as { gpu?: number; gpuMemory?: string; mig?: string };
  const per = r.mig ? `MIG ${r.mig}` : r.gpuMemory ? `${r.gpuMemory} GPU mem` : String(r.gpu ?? 0);
  return j.workers > 1 ? `${j.workers}×${per}` : per;
}

export function matchesSearch(j: JobSummary, q: string): boolean {
  if (!q) return true;
  const s = q.toLowerCase();
  return j.name.toLowerCase().includes(s) || j.id.toLowerCase().includes(s) || j.owner.toLowerCase().includes(s) || j.team.toLowerCase().includes(s);
}

/** Keeps `list` newest first: rows of `fresh` replace theirs, new ones go on top. */
export function mergeJobs(list: readonly JobSummary[], fresh: readonly JobSummary[]): JobSummary[] {
  const byId = new Map(fresh.map((j) => [j.id, j]));
  const known = new Set(list.map((j) => j.id));
  const added = fresh.filter((j) => !known.has(j.id));
  return [...added, ...list.map((j) => byId.get(j.id) ?? j)];
}

function readHash(): { state: string; queue: string; q: string } {
  const p = new URLSearchParams(location.hash.split('?')[1] ?? '');
  return { state: p.get('state') ?? '', queue: p.get('queue') ?? '', q: p.get('q') ?? '' };
}

export function JobsView() {
  const init = readHash();
  const [state, setState] = useState(init.state);
  const [queue, setQueue] = useState(init.queue);
  const [search, setSearch] = useState(init.q);
  const [jobs, setJobs] = useState<JobSummary[]>([]);
  const [complete, setComplete] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [scroll, setScroll] = useState(0);
  const [height, setHeight] = useState(600);
  const box = useRef<HTMLDivElement>(null);
  const queues = useLoad(() => call('listQueues'), []);
  const query = (extra: { cursor?: string; limit: number }) => ({ ...(state ? { state } : {}), ...(queue ? { queue } : {}), ...extra });

  // Filters go in the URL, so a filtered list can be shared and survives a reload.
  useEffect(() => {
    const p = new URLSearchParams();
    if (state) p.set('state', state);
    if (queue) p.set('queue', queue);
    if (search) p.set('q', search);
    const s = p.toString();
    history.replaceState(null, '', `#/jobs${s ? `?${s}` : ''}`);
  }, [state, queue, search]);

  // The first page at once, then the rest in the background. The rows already read stay until
  // the first page replaces them (filtered in the browser meanwhile): the list never goes blank.
  useEffect(() => {
    let stop = false;
    setComplete(false);
    setError(null);
    (async () => {
      let page = await call('listJobs', { query: query({ limit: FIRST_PAGE }) });
      if (stop) return;
      let all = page.items;
      setJobs(all);
      while (page.nextCursor && all.length < MAX_LOADED) {
        page = await call('listJobs', { query: query({ cursor: page.nextCursor, limit: PAGE }) });
        if (stop) return;
        all = [...all, ...page.items];
        setJobs(all);
      }
      setComplete(page.nextCursor === null);
    })().catch((e: unknown) => {
      if (!stop) setError(e instanceof Error ? e.message : String(e));
    });
    return () => {
      stop = true;
    };
  }, [state, queue]);

  // Pushed changes: a known job's row changes at once; the newest page is read again (new jobs).
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    return subscribe((e) => {
      if (e.type !== 'job' && e.type !== 'hello') return;
      if (e.type === 'job') setJobs((list) => list.map((j) => (j.id === e.id ? { ...j, state: e.state as JobSummary['state'], reason: e.reason } : j)));
      timer ??= setTimeout(() => {
        timer = null;
        call('listJobs', { query: query({ limit: FIRST_PAGE }) }).then(
          (page) => setJobs((list) => mergeJobs(list, page.items)),
          () => undefined,
        );
      }, 300);
    });
  }, [state, queue]);

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // For the benchmark (bench/dashboard-render.ts): when the first rows and the whole list were drawn.
  useEffect(() => {
    const w = window as unknown as { __gantryJobs?: { firstRowsAt: number; allAt: number } };
    w.__gantryJobs ??= { firstRowsAt: 0, allAt: 0 };
    if (jobs.length > 0 && w.__gantryJobs.firstRowsAt === 0) w.__gantryJobs.firstRowsAt = performance.now();
    if (complete && w.__gantryJobs.allAt === 0) w.__gantryJobs.allAt = performance.now();
  }, [jobs, complete]);

  const shown = useMemo(() => jobs.filter((j) => inState(state, j.state) && (!queue || j.queue === queue) && matchesSearch(j, search.trim())), [jobs, state, queue, search]);
  const first = Math.max(0, Math.floor(scroll / ROW) - 10);
  const last = Math.min(shown.length, Math.ceil((scroll + height) / ROW) + 10);
  return (
    <>
      <div class="toolbar">
        <h1 style="margin:0 1rem 0 0">Jobs</h1>
        <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value)} data-testid="filter-state" aria-label="state">
          <option value="">all states</option>
          <option value="active">active</option>
          <option value="finished">finished</option>
          {JOB_STATES.map((s) => (
            <option value={s}>{s}</option>
          ))}
        </select>
        <select value={queue} onChange={(e) => setQueue((e.target as HTMLSelectElement).value)} data-testid="filter-queue" aria-label="queue">
          <option value="">all queues</option>
          {(queues.data?.items ?? []).map((q) => (
            <option value={q.name}>{q.name}</option>
          ))}
        </select>
        <input type="search" placeholder="search name, id, owner, team" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} data-testid="job-search" />
        <span class="muted" data-testid="job-count" data-loaded={jobs.length} data-complete={String(complete)}>
          {shown.length} of {jobs.length}
          {complete ? '' : '+'} jobs
        </span>
        {error ? <span class="err">{error}</span> : null}
      </div>
      <div class="vlist" ref={box} style="height:calc(100vh - 10.5rem)" onScroll={(e) => setScroll((e.target as HTMLDivElement).scrollTop)}>
        <table>
          <colgroup>
            <col style="width:9rem" />
            <col />
            <col style="width:7.5rem" />
            <col style="width:9rem" />
            <col style="width:8rem" />
            <col style="width:7rem" />
            <col style="width:7rem" />
            <col style="width:30%" />
          </colgroup>
          <thead>
            <tr>
              <th>ID</th>
              <th>Name</th>
              <th>State</th>
              <th>Queue</th>
              <th>Owner</th>
              <th>GPUs</th>
              <th>Submitted</th>
              <th>Why / reason</th>
            </tr>
          </thead>
          <tbody data-testid="job-rows">
            <tr style={`height:${first * ROW}px`} />
            {shown.slice(first, last).map((j) => (
              <tr style={`height:${ROW}px`} data-job={j.id} onClick={() => (location.hash = `#/jobs/${encodeURIComponent(j.id)}`)}>
                <td>
                  <a href={`#/jobs/${encodeURIComponent(j.id)}`}>{j.id}</a>
                </td>
                <td title={j.name}>{j.name}</td>
                <td>
                  <span class={`pill s-${j.state}`}>{j.state}</span>
                </td>
                <td>{j.queue}</td>
                <td>{j.owner}</td>
                <td>{jobGpus(j)}</td>
                <td title={j.submittedAt}>{ago(j.submittedAt)}</td>
                <td class="muted" title={j.waitingFor[0]?.message ?? j.reason ?? ''}>
                  {j.waitingFor[0]?.message ?? j.reason ?? ''}
                </td>
              </tr>
            ))}
            <tr style={`height:${(shown.length - last) * ROW}px`} />
          </tbody>
        </table>
        {shown.length === 0 && complete ? <p class="muted" style="padding:1rem">No jobs match.</p> : null}
      </div>
    </>
  );
}
