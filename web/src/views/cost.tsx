/**
 * Cost and budgets: GPU-hours and cost by team, queue, user, GPU model or service over a window (one
 * /v1/cost call per hour or day, in parallel), drawn cumulatively with each matching budget's
 * limit as a dashed line; preempted (redone) and idle reserved GPU cost apart; the budgets
 * with what was spent this period. A member's reports
 * cover their own team (the API decides).
 */
import { useMemo, useState } from 'preact/hooks';
import { call } from '../api.js';
import { useLoad } from '../hooks.js';
import { colourOf, money } from '../format.js';
import { Chart, type Series } from '../chart.js';

type By = 'team' | 'queue' | 'user' | 'model' | 'service';
const RANGES = { '24h': { step: 3600_000, n: 24 }, '7d': { step: 86_400_000, n: 7 }, '30d': { step: 86_400_000, n: 30 } } as const;
type Range = keyof typeof RANGES;

/** Window starts, oldest first, aligned to the step (UTC), the last one ending now. */
export function windows(range: Range, now: number): { since: number; until: number }[] {
  const { step, n } = RANGES[range];
  const end = Math.floor(now / step) * step + step;
  return Array.from({ length: n }, (_, i) => ({ since: end - (n - i) * step, until: Math.min(now, end - (n - i - 1) * step) }));
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function CostView() {
  const [by, setBy] = useState<By>('team');
  const [range, setRange] = useState<Range>('7d');
  const total = useLoad(() => call('getCost', { query: { by, since: range, limit: 100 } }), [by, range]);
  const series = useLoad(() => {
    const w = windows(range, Date.now());
    return Promise.all(w.map((x) => call('getCost', { query: { by, since: iso(x.since), until: iso(x.until), limit: 20 } }))).then((reports) => ({ w, reports }));
  }, [by, range]);
  const budgets = useLoad(() => call('listBudgets'), [], (e) => e.type === 'queues');
  const chart = useMemo(() => {
    const d = series.data;
    if (!d) return null;
    const keys = [...new Set(d.reports.flatMap((r) => r.items.map((i) => i.key)))].slice(0, 12);
    const lines: Series[] = keys.map((k) => {
      let sum = 0;
      return { label: k, values: d.reports.map((r) => (sum += r.items.find((i) => i.key === k)?.cost ?? 0)) };
    });
    for (const b of budgets.data?.items ?? []) {
      if (b.scope === by && keys.includes(b.name)) lines.push({ label: `${b.name} budget (${b.period})`, values: d.w.map(() => b.limit), dash: true, colour: colourOf(b.name) });
    }
    return { x: d.w.map((x) => x.until / 1000), lines };
  }, [series.data, budgets.data, by]);
  const t = total.data;
  return (
    <>
      <div class="toolbar">
        <h1 style="margin:0 1rem 0 0">Cost</h1>
        <label>
          by{' '}
          <select value={by} onChange={(e) => setBy((e.target as HTMLSelectElement).value as By)} data-testid="cost-by">
            <option value="team">team</option>
            <option value="queue">queue</option>
            <option value="user">user</option>
            <option value="model">GPU model</option>
            <option value="service">service (replicas)</option>
          </select>
        </label>
        <label>
          over{' '}
          <select value={range} onChange={(e) => setRange((e.target as HTMLSelectElement).value as Range)}>
            {Object.keys(RANGES).map((r) => (
              <option value={r}>last {r}</option>
            ))}
          </select>
        </label>
        {t ? <span class="muted">scope: {t.scope === 'all' ? 'all teams' : `team ${t.scope}`}</span> : null}
      </div>
      {total.error ? <p class="err">{total.error.message}</p> : null}
      {t ? (
        <div class="card stats">
          <span>
            <b data-testid="cost-total">{money(t.total.cost)}</b>cost
          </span>
          <span>
            <b>{t.total.gpuHours.toFixed(1)}</b>GPU-hours
          </span>
          <span>
            <b class="warn">{money(t.total.preemptedCost)}</b>preempted (redone)
          </span>
          <span title="GPUs held by jobs while their utilisation was below 5% of the compute held">
            <b class="err" data-testid="cost-idle">{money(t.total.idleCost)}</b>held idle ({t.total.idleGpuHours.toFixed(2)} GPU-h)
          </span>
          <span>
            <b>{t.total.running}</b>running attempts
          </span>
        </div>
      ) : null}
      <div class="card">
        <h2 style="margin-top:0">Cumulative cost, last {range}, with budget limits (dashed)</h2>
        {chart && chart.lines.length > 0 ? <Chart x={chart.x} series={chart.lines} yLabel="cost" testid="cost-chart" /> : <p class="muted">{series.error ? series.error.message : series.data ? 'No cost in this window (set prices with gantry prices set MODEL PRICE).' : 'loading…'}</p>}
      </div>
      <div class="grid2">
        <div>
          <h2>By {by}</h2>
          <table data-testid="cost-table">
            <thead>
              <tr>
                <th>{by}</th>
                <th class="num">GPU-hours</th>
                <th class="num">Cost</th>
                <th class="num">Preempted</th>
                <th class="num">Held idle</th>
                <th class="num">Attempts</th>
              </tr>
            </thead>
            <tbody>
              {(t?.items ?? []).map((i) => (
                <tr>
                  <td>{i.key}</td>
                  <td class="num">{i.gpuHours.toFixed(2)}</td>
                  <td class="num">{money(i.cost)}</td>
                  <td class="num">{money(i.preemptedCost)}</td>
                  <td class="num">{i.idleCost > 0 ? <span class="err">{money(i.idleCost)}</span> : money(0)}</td>
                  <td class="num">{i.attempts}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h2>Budgets</h2>
          {budgets.data && budgets.data.items.length === 0 ? <p class="muted">No budgets (gantry budgets set).</p> : null}
          <table data-testid="budget-table">
            <tbody>
              {(budgets.data?.items ?? []).map((b) => (
                <tr>
                  <td>
                    {b.scope} <b>{b.name}</b>
                  </td>
                  <td>
                    {b.period}, {b.mode}
                  </td>
                  <td class="num">
                    {money(b.spent)} / {money(b.limit)}
                  </td>
                  <td style="width:30%">
                    <div class="bar">
                      <span class={b.status === 'exhausted' ? 'ex' : b.status === 'warning' ? 'over' : ''} style={`width:${Math.min(100, (b.spent / Math.max(b.limit, 1e-9)) * 100)}%`} />
                    </div>
                  </td>
                  <td>
                    <span class={`pill s-${b.status}`}>{b.status}</span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>
    </>
  );
}
