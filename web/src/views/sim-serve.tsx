/**
 * `gantry sim serve` runs compared: a table per policy and rate (p99 TTFT, objective
 * attainment, replicas, GPU-hours, training lost, cost and cost per 1,000 requests, with bars
 * scaled to the largest), and three charts over the replay, minute by minute: replicas held,
 * GPU-hours held so far, and each minute's p99 TTFT against the objective (dashed).
 */
import { useMemo } from 'preact/hooks';
import { Chart, type Series } from '../chart.js';
import { money } from '../format.js';
import type { ServeRun } from '../sim/results.js';
import { Bar, runColour } from './sim-parts.js';

const fixed = (v: number, d: number): string => (Number.isFinite(v) ? v.toFixed(d) : '–');
const ms = (v: number): string => (Number.isFinite(v) ? `${Math.round(v)}` : '–');

type Pick = (r: ServeRun) => readonly (number | null)[];

/** One chart of one timeline field, a line per run, x in minutes since the first arrival. */
function overTime(runs: readonly ServeRun[], pick: Pick, level?: { label: string; value: number }): { x: number[]; lines: Series[] } | null {
  const withTimeline = runs.filter((r) => r.timeline && pick(r).length > 0);
  if (withTimeline.length === 0) return null;
  const n = Math.max(...withTimeline.map((r) => pick(r).length));
  const x = Array.from({ length: n }, (_, i) => i);
  const lines: Series[] = withTimeline.map((r) => ({ label: r.label, colour: runColour(runs.indexOf(r)), values: x.map((_, i) => { const v = pick(r)[i]; return v === undefined || v === null || !Number.isFinite(v) ? null : v; }) }));
  if (level) lines.push({ label: level.label, colour: '#1d2330', dash: true, values: x.map(() => level.value) });
  return { x, lines };
}

export function ServeRuns(props: { runs: readonly ServeRun[]; objectivesMs: readonly number[] }) {
  const { runs } = props;
  const maxCost = Math.max(0, ...runs.map((r) => r.cost ?? 0));
  const maxGpuHours = Math.max(0, ...runs.map((r) => r.gpuHours).filter(Number.isFinite));
  const priced = runs.some((r) => r.cost !== null);
  const charts = useMemo(() => {
    // One objective across the files loaded: drawn as a level; several: each file's table says its own.
    const only = props.objectivesMs.length === 1 ? props.objectivesMs[0] : undefined;
    const objective = only !== undefined && Number.isFinite(only) ? { label: `objective ${only} ms`, value: only } : undefined;
    return {
      replicas: overTime(runs, (r) => r.timeline?.replicas ?? []),
      gpuHours: overTime(runs, (r) => r.timeline?.gpuHours ?? []),
      ttft: overTime(runs, (r) => r.timeline?.ttftP99Ms ?? [], objective),
    };
  }, [runs, props.objectivesMs.join()]);
  return (
    <>
      <table data-testid="sim-serve-table">
        <thead>
          <tr>
            <th>Run</th>
            <th class="num">Rate</th>
            <th class="num">TTFT p50 / p99 (ms)</th>
            <th class="num">ITL p99 (ms)</th>
            <th class="num">Objective met (% of minutes)</th>
            <th />
            <th class="num">Replicas mean / max</th>
            <th class="num">GPU-h</th>
            <th />
            <th class="num">Training GPU-h lost</th>
            <th class="num">Cold / cached starts</th>
            <th class="num">Cost</th>
            <th />
            <th class="num">Cost / 1k requests</th>
            <th class="num">Unserved</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => {
            const served = r.requests - r.unserved;
            return (
              <tr data-run={r.policy} data-rate={r.rateScale}>
                <td>{r.label}</td>
                <td class="num">{r.rateScale}×</td>
                <td class="num">
                  {ms(r.ttftP50Ms)} / {ms(r.ttftP99Ms)}
                </td>
                <td class="num">{ms(r.itlP99Ms)}</td>
                <td class="num" data-testid="sim-serve-attainment">
                  <span class={r.sloAttainment < 0.99 ? 'warn' : ''}>{fixed(r.sloAttainment * 100, 1)}</span>
                </td>
                <td>
                  <Bar value={r.sloAttainment} max={1} label="objective met" warn={r.sloAttainment < 0.99} />
                </td>
                <td class="num">
                  {fixed(r.replicasMean, 2)} / {r.replicasMax}
                </td>
                <td class="num" data-testid="sim-serve-gpu-hours">{fixed(r.gpuHours, 2)}</td>
                <td>
                  <Bar value={r.gpuHours} max={maxGpuHours} label="GPU-hours" />
                </td>
                <td class="num">{fixed(r.trainingGpuHoursLost, 2)}</td>
                <td class="num">
                  {r.coldStarts} / {r.cachedStarts}
                </td>
                <td class="num" data-testid="sim-serve-cost">{r.cost === null ? '–' : money(r.cost)}</td>
                <td>{r.cost === null ? null : <Bar value={r.cost} max={maxCost} label="cost" />}</td>
                <td class="num">{r.cost === null || served <= 0 ? '–' : money((r.cost * 1000) / served)}</td>
                <td class="num">{r.unserved}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {!priced ? <p class="muted">No run was priced: run gantry sim serve with --prices (the file gantry prices ls -o json writes, or MODEL=PRICE) to compare cost.</p> : null}
      {charts.replicas ? (
        <div class="card">
          <h2 style="margin-top:0">Replicas held, per minute (minutes since the first arrival)</h2>
          <Chart x={charts.replicas.x} series={charts.replicas.lines} xTime={false} yLabel="replicas (GPUs)" testid="sim-serve-replicas-chart" />
        </div>
      ) : (
        <p class="muted">These files have no timeline (written by an older gantry sim serve): run it again for the charts.</p>
      )}
      {charts.gpuHours ? (
        <div class="card">
          <h2 style="margin-top:0">GPU-hours held so far</h2>
          <Chart x={charts.gpuHours.x} series={charts.gpuHours.lines} xTime={false} yLabel="GPU-hours" testid="sim-serve-gpu-hours-chart" />
        </div>
      ) : null}
      {charts.ttft ? (
        <div class="card">
          <h2 style="margin-top:0">p99 time to first token of each minute's arrivals (log scale, lower is better; dashed: the objective)</h2>
          <Chart x={charts.ttft.x} series={charts.ttft.lines} xTime={false} yLabel="p99 TTFT (ms)" yLog testid="sim-serve-ttft-chart" />
        </div>
      ) : null}
    </>
  );
}
