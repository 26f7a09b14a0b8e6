/**
 * Fleet: every GPU a tile on one canvas, grouped by node, coloured by queue or job; shares and
 * MIG slices fill their fraction of the tile; idle, fragmented and unhealthy GPUs are marked.
 * Click a tile for its details. Only the visible part is drawn, so 10,000 GPUs stay smooth.
 */
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { call } from '../api.js';
import { useLoad } from '../hooks.js';
import { bytes, colourOf, gpus } from '../format.js';
import { buildFleet, summarise, tileState, type FleetNode, type Segment } from '../fleet/model.js';
import { hitTest, layoutFleet } from '../fleet/layout.js';
import { COLOURS, drawFleet, segmentColour, type ColourBy } from '../fleet/draw.js';
import { HistoryChart } from '../history.js';

const FLEET_LINES: Record<string, string> = { gpus: 'healthy GPUs', allocated: 'allocated', idle: 'held idle' };

declare global {
  interface Window {
    /**
     * For the benchmark (bench/dashboard-render.ts), times from performance.now(): when the
     * last data arrived (dataAt), when the first tiles and the latest frame were drawn, how
     * long the last layout and canvas draw took.
     */
    __gantryFleet?: FleetTiming;
  }
}

interface FleetTiming {
  tiles: number;
  draws: number;
  lastDrawMs: number;
  lastLayoutMs: number;
  dataAt: number;
  firstDrawAt: number;
  drawnAt: number;
}

function timing(): FleetTiming {
  window.__gantryFleet ??= { tiles: 0, draws: 0, lastDrawMs: 0, lastLayoutMs: 0, dataAt: 0, firstDrawAt: 0, drawnAt: 0 };
  return window.__gantryFleet;
}

export function loadFleet(): Promise<FleetNode[]> {
  return Promise.all([call('top'), call('listNodes')]).then(([t, n]) => {
    timing().dataAt = performance.now();
    return buildFleet(t, n);
  });
}

function Details(props: { fleet: readonly FleetNode[]; sel: { node: number; tile: number }; colourBy: ColourBy }) {
  const n = props.fleet[props.sel.node];
  const t = n?.tiles[props.sel.tile];
  if (!n || !t) return null;
  return (
    <div class="card" data-testid="gpu-details">
      <h2 style="margin-top:0">
        {t.node} / GPU {t.index}
      </h2>
      <dl class="kv">
        <dt>Model</dt>
        <dd>
          {t.model}
          {t.migEnabled ? ' (MIG)' : ''}
        </dd>
        <dt>State</dt>
        <dd>{tileState(t)}</dd>
        <dt>Free</dt>
        <dd>{gpus(t.free)} GPU</dd>
        <dt>Utilisation</dt>
        <dd>{t.utilization === null ? '–' : `${t.utilization}%`}</dd>
        <dt>Memory</dt>
        <dd>
          {t.memoryUsedMiB === null ? '–' : bytes(t.memoryUsedMiB * 2 ** 20)} / {bytes(t.memoryMiB * 2 ** 20)}
        </dd>
        <dt>Temp / power</dt>
        <dd>
          {t.temperatureC ?? '–'} °C / {t.powerW ?? '–'} W
        </dd>
        <dt>UUID</dt>
        <dd style="font-size:11px;word-break:break-all">{t.uuid}</dd>
      </dl>
      <h2>Holders</h2>
      {t.segments.length === 0 ? <p class="muted">none: idle</p> : null}
      <ul style="padding-left:1rem;margin:0">
        {t.segments.map((s) => (
          <li>
            <i style={`display:inline-block;width:10px;height:10px;background:${segmentColour(s, props.colourBy)};margin-right:.35rem`} />
            {s.job === '' ? (
              <span class="muted">another team's job</span>
            ) : (
              <a href={`#/jobs/${encodeURIComponent(s.job)}`}>
                {s.name ?? s.job} <span class="muted">({s.job})</span>
              </a>
            )}{' '}
            <span class="muted">
              {s.mig ? `MIG ${s.mig}` : `${gpus(s.fraction)} GPU`}
              {s.queue ? ` · ${s.queue}` : ''}
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function FleetView() {
  const loaded = useLoad(loadFleet, [], (e) => e.type === 'fleet');
  const fleet = loaded.data ?? [];
  const [colourBy, setColourBy] = useState<ColourBy>('queue');
  const [search, setSearch] = useState('');
  const [sel, setSel] = useState<{ node: number; tile: number } | null>(null);
  const [size, setSize] = useState({ w: 800, h: 600 });
  const [scrollTop, setScrollTop] = useState(0);
  const scroller = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  // Telemetry (utilisation, memory) is not pushed: read again every 10 s.
  useEffect(() => {
    const t = setInterval(() => loaded.reload(), 10_000);
    return () => clearInterval(t);
  }, []);
  useEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setSize({ w: el.clientWidth, h: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const layout = useMemo(() => {
    const t0 = performance.now();
    const l = layoutFleet(fleet, size.w);
    timing().lastLayoutMs = performance.now() - t0;
    return l;
  }, [fleet, size.w]);
  const summary = useMemo(() => summarise(fleet), [fleet]);
  const match = useMemo(() => {
    const q = search.trim().toLowerCase();
    if (!q) return null;
    return (s: Segment) => [s.job, s.name ?? '', s.queue ?? '', s.team ?? ''].some((v) => v.toLowerCase().includes(q));
  }, [search]);
  const queues = useMemo(() => {
    const m = new Map<string, number>();
    for (const n of fleet) for (const t of n.tiles) for (const s of t.segments) if (s.queue) m.set(s.queue, (m.get(s.queue) ?? 0) + s.fraction);
    return [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
  }, [fleet]);
  // Drawn before the browser paints (a layout effect), so new data or a scroll shows in the next frame.
  useLayoutEffect(() => {
    const c = canvas.current;
    if (!c) return;
    {
      const dpr = window.devicePixelRatio || 1;
      if (c.width !== Math.round(size.w * dpr) || c.height !== Math.round(size.h * dpr)) {
        c.width = Math.round(size.w * dpr);
        c.height = Math.round(size.h * dpr);
        c.style.width = `${size.w}px`;
        c.style.height = `${size.h}px`;
      }
      const ctx = c.getContext('2d');
      if (!ctx) return;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      const ms = drawFleet(ctx, layout, fleet, scrollTop, size.h, { colourBy, selected: sel, match });
      const tm = timing();
      tm.tiles = summary.gpus;
      tm.draws++;
      tm.lastDrawMs = ms;
      tm.drawnAt = performance.now();
      if (summary.gpus > 0 && tm.firstDrawAt === 0) tm.firstDrawAt = tm.drawnAt;
      c.dataset['tiles'] = String(summary.gpus);
      c.dataset['draws'] = String(tm.draws);
    }
  }, [layout, fleet, scrollTop, size, colourBy, sel, match, summary]);
  const onClick = (e: MouseEvent) => {
    const c = canvas.current;
    if (!c) return;
    const r = c.getBoundingClientRect();
    setSel(hitTest(layout, fleet, e.clientX - r.left, e.clientY - r.top + scrollTop));
  };
  return (
    <>
      <div class="toolbar">
        <h1 style="margin:0 1rem 0 0">Fleet</h1>
        <label>
          Colour by{' '}
          <select value={colourBy} onChange={(e) => setColourBy((e.target as HTMLSelectElement).value as ColourBy)} data-testid="colour-by">
            <option value="queue">queue</option>
            <option value="job">job</option>
          </select>
        </label>
        <input placeholder="highlight job, queue or team" value={search} onInput={(e) => setSearch((e.target as HTMLInputElement).value)} data-testid="fleet-search" />
        {loaded.error ? <span class="err">{loaded.error.message}</span> : null}
        {!loaded.data && !loaded.error ? <span class="muted">loading…</span> : null}
      </div>
      <div class="fleet-wrap">
        <div class="fleet-scroll" ref={scroller} onScroll={(e) => setScrollTop((e.target as HTMLDivElement).scrollTop)}>
          <canvas ref={canvas} onClick={onClick} data-testid="fleet-canvas" aria-label={`${summary.gpus} GPUs on ${fleet.length} nodes`} />
          <div style={`height:${Math.max(0, layout.height - size.h)}px`} />
        </div>
        <div class="side">
          <div class="card">
            <div class="stats" data-testid="fleet-stats">
              <span>
                <b>{summary.gpus}</b>GPUs
              </span>
              <span>
                <b>{summary.idle}</b>idle
              </span>
              <span>
                <b>{summary.full}</b>full
              </span>
              <span title="GPUs held by running work that leaves them idle (utilisation below 5% of the compute held)">
                <b class="err" data-testid="fleet-idle-reserved">{summary.idleReserved}</b>held idle
              </span>
              <span title="partly used GPUs: their free part only fits small work">
                <b class="warn">{summary.fragmented}</b>fragmented ({gpus(summary.fragmentedFree)} free)
              </span>
              {summary.unhealthy > 0 ? (
                <span>
                  <b class="err">{summary.unhealthy}</b>unhealthy
                </span>
              ) : null}
            </div>
            <div class="legend" style="margin-top:.6rem">
              <span>
                <i style={`background:${COLOURS.idle}`} />
                idle
              </span>
              <span>
                <i style={`background:repeating-linear-gradient(135deg,${COLOURS.free} 0 3px,${COLOURS.hatch} 3px 4px)`} />
                fragmented (free part)
              </span>
              <span>
                <i style={`background:${COLOURS.other}`} />
                another team
              </span>
              <span>
                <i style={`background:#fff;border:2px solid ${COLOURS.bad}`} />
                unhealthy
              </span>
              <span>
                <i style={`background:#fff;border:2px dashed ${COLOURS.bad}`} />
                held idle (z)
              </span>
              <span>M = MIG</span>
            </div>
            {colourBy === 'queue' && queues.length > 0 ? (
              <div class="legend" style="margin-top:.5rem">
                {queues.map(([q, g]) => (
                  <span>
                    <i style={`background:${colourOf(q)}`} />
                    {q} ({gpus(g)})
                  </span>
                ))}
              </div>
            ) : null}
          </div>
          {sel ? <Details fleet={fleet} sel={sel} colourBy={colourBy} /> : <p class="muted">Click a GPU for its details.</p>}
        </div>
      </div>
      <HistoryChart title="Fleet over time" query={{ kind: 'fleet', metric: 'gpus,allocated,idle' }} yLabel="GPUs" testid="fleet-history-chart" label={(s) => FLEET_LINES[s.metric] ?? s.metric} />
    </>
  );
}
