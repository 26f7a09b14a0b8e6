/**
 * Simulator results: the results.json of `gantry sim jobs|serve|openb --out`,
 * loaded from disk in the browser (nothing is sent to the server), one or several files, their
 * runs compared side by side: a table of the figures (with cost where the run was priced, bars
 * scaled to the largest), GPU utilisation over time per run (jobs), unallocated GPUs against
 * the arrived workload per run (openb); serve runs in views/sim-serve.tsx.
 */
import { useMemo, useState } from 'preact/hooks';
import { Chart, type Series } from '../chart.js';
import { money } from '../format.js';
import { parseSimFile, type JobsRun, type OpenbRun, type ServeRun, type SimFile } from '../sim/results.js';
import { Bar, runColour } from './sim-parts.js';
import { ServeRuns } from './sim-serve.js';

const hours = (s: number): string => (Number.isFinite(s) ? (s / 3600).toFixed(2) : '–');
const pct = (x: number): string => (Number.isFinite(x) ? (x * 100).toFixed(1) : '–');

function JobsRuns(props: { runs: readonly JobsRun[] }) {
  const { runs } = props;
  const maxJct = Math.max(0, ...runs.map((r) => r.meanJctSeconds).filter(Number.isFinite));
  const maxCost = Math.max(0, ...runs.map((r) => r.cost?.total ?? 0));
  const priced = runs.some((r) => (r.cost?.total ?? 0) > 0);
  const util = useMemo(() => {
    const withSeries = runs.filter((r) => r.utilization && r.utilization.series.length > 0);
    if (withSeries.length === 0) return null;
    const step = withSeries[0]!.utilization!.sampleSeconds;
    const n = Math.max(...withSeries.map((r) => r.utilization!.series.length));
    const x = Array.from({ length: n }, (_, i) => ((i + 0.5) * step) / 3600);
    const lines: Series[] = withSeries.map((r, k) => ({ label: r.label, colour: runColour(k), values: x.map((_, i) => { const v = r.utilization!.series[i]; return v === undefined || !Number.isFinite(v) ? null : v * 100; }) }));
    return { x, lines };
  }, [runs]);
  return (
    <>
      <table data-testid="sim-jobs-table">
        <thead>
          <tr>
            <th>Run</th>
            <th class="num">Mean JCT (h)</th>
            <th />
            <th class="num">p99 JCT (h)</th>
            <th class="num">Mean wait (h)</th>
            <th class="num">GPU util (%)</th>
            <th class="num">Fairness</th>
            <th class="num">Preemptions</th>
            <th class="num">GPU-h lost</th>
            <th class="num">Cost</th>
            <th />
            <th class="num">Cost redone</th>
            <th class="num">Completed</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr data-run={r.policy}>
              <td>{r.label}</td>
              <td class="num">{hours(r.meanJctSeconds)}</td>
              <td>
                <Bar value={r.meanJctSeconds} max={maxJct} label="mean JCT" />
              </td>
              <td class="num">{hours(r.p99JctSeconds)}</td>
              <td class="num">{hours(r.meanWaitSeconds)}</td>
              <td class="num">{pct(r.gpuUtilization)}</td>
              <td class="num">{Number.isFinite(r.fairnessIndex) ? r.fairnessIndex.toFixed(3) : '–'}</td>
              <td class="num">{r.preemptions}</td>
              <td class="num">{Number.isFinite(r.gpuHoursLost) ? r.gpuHoursLost.toFixed(1) : '–'}</td>
              <td class="num" data-testid="sim-cost">{r.cost ? money(r.cost.total) : '–'}</td>
              <td>{r.cost ? <Bar value={r.cost.total} max={maxCost} label="cost" /> : null}</td>
              <td class="num">{r.cost ? <span class={r.cost.preempted > 0 ? 'warn' : ''}>{money(r.cost.preempted)}</span> : '–'}</td>
              <td class="num">
                {r.completed} / {r.jobs}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!priced ? <p class="muted">No run was priced: run the simulator with --prices (the file gantry prices ls -o json writes, or MODEL=PRICE) to compare cost.</p> : null}
      {util ? (
        <div class="card">
          <h2 style="margin-top:0">GPU utilisation over time (hours since the first arrival)</h2>
          <Chart x={util.x} series={util.lines} xTime={false} yLabel="GPUs allocated (%)" testid="sim-util-chart" />
        </div>
      ) : null}
      {priced ? (
        <div class="card">
          <h2 style="margin-top:0">Cost by queue</h2>
          <table data-testid="sim-cost-by-queue">
            <thead>
              <tr>
                <th>Queue</th>
                {runs.map((r) => (
                  <th class="num">{r.label}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {[...new Set(runs.flatMap((r) => r.cost?.byQueue.map((q) => q.key) ?? []))].map((q) => (
                <tr>
                  <td>{q}</td>
                  {runs.map((r) => {
                    const l = r.cost?.byQueue.find((x) => x.key === q);
                    return <td class="num">{l ? money(l.cost) : '–'}</td>;
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </>
  );
}

function OpenbRuns(props: { runs: readonly OpenbRun[] }) {
  const chart = useMemo(() => {
    const x = [...new Set(props.runs.flatMap((r) => r.unallocated.map((p) => p.arrived)))].sort((a, b) => a - b);
    return { x, lines: props.runs.map((r, k) => ({ label: r.label, colour: runColour(k), values: x.map((a) => r.unallocated.find((p) => p.arrived === a)?.mean ?? null) })) };
  }, [props.runs]);
  return (
    <div class="card">
      <h2 style="margin-top:0">Unallocated GPUs against the arrived workload (lower is better)</h2>
      <Chart x={chart.x} series={chart.lines} xTime={false} yLabel="unallocated GPU (%)" testid="sim-openb-chart" />
      <table data-testid="sim-openb-table">
        <thead>
          <tr>
            <th>Run</th>
            <th class="num">Seeds</th>
            {chart.x.map((a) => (
              <th class="num">{a}% arrived</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.runs.map((r) => (
            <tr data-run={r.policy}>
              <td>{r.label}</td>
              <td class="num">{r.seeds}</td>
              {chart.x.map((a) => {
                const v = r.unallocated.find((p) => p.arrived === a)?.mean;
                return <td class="num">{v === null || v === undefined ? '–' : v.toFixed(2)}</td>;
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function SimView() {
  const [files, setFiles] = useState<SimFile[]>([]);
  const [error, setError] = useState<string | null>(null);
  const load = async (list: FileList | null) => {
    if (!list) return;
    const loaded: SimFile[] = [];
    for (const f of Array.from(list)) {
      try {
        loaded.push(parseSimFile(f.name, await f.text()));
      } catch (e) {
        setError(e instanceof Error ? e.message : String(e));
        return;
      }
    }
    setError(null);
    setFiles((old) => [...old.filter((o) => !loaded.some((l) => l.name === o.name)), ...loaded]);
  };
  const jobs = files.filter((f) => f.kind === 'jobs').flatMap((f) => f.runs as JobsRun[]);
  const openb = files.filter((f) => f.kind === 'openb').flatMap((f) => f.runs as OpenbRun[]);
  const serveFiles = files.filter((f) => f.kind === 'serve');
  const serve = serveFiles.flatMap((f) => f.runs as ServeRun[]);
  const objectives = [...new Set(serveFiles.map((f) => f.ttftObjectiveMs ?? NaN))];
  return (
    <>
      <div class="toolbar">
        <h1 style="margin:0 1rem 0 0">Simulator results</h1>
        <label>
          results.json{' '}
          <input type="file" accept=".json,application/json" multiple data-testid="sim-file" onChange={(e) => void load((e.target as HTMLInputElement).files)} />
        </label>
        {files.length > 0 ? (
          <button onClick={() => setFiles([])} data-testid="sim-clear">
            Clear
          </button>
        ) : null}
      </div>
      {error ? (
        <p class="err" role="alert" data-testid="sim-error">
          {error}
        </p>
      ) : null}
      {files.length === 0 ? (
        <p class="muted">
          Load the <code>results.json</code> of <code>gantry sim jobs --out DIR</code>, <code>gantry sim serve --out DIR</code> or <code>gantry sim openb --out DIR</code> (several to compare runs). The file stays in this browser.
        </p>
      ) : (
        <ul class="reasons" data-testid="sim-files">
          {files.map((f) => (
            <li>
              <b>{f.name}</b> ({f.kind}, {f.runs.length} policies): {f.about}
            </li>
          ))}
        </ul>
      )}
      {jobs.length > 0 ? <JobsRuns runs={jobs} /> : null}
      {serve.length > 0 ? <ServeRuns runs={serve} objectivesMs={objectives} /> : null}
      {openb.length > 0 ? <OpenbRuns runs={openb} /> : null}
    </>
  );
}
