/**
 * The results.json files `gantry sim jobs|serve|openb --out` write, read in
 * the browser: which kind a file is, its runs (one per policy) and the figures the simulator
 * view compares. A file that is neither is refused with a reason, never half shown.
 */

export interface JobsRun {
  readonly kind: 'jobs';
  readonly label: string;
  readonly policy: string;
  readonly meanJctSeconds: number;
  readonly p99JctSeconds: number;
  readonly meanWaitSeconds: number;
  readonly gpuUtilization: number;
  readonly fairnessIndex: number;
  readonly preemptions: number;
  readonly gpuHoursLost: number;
  readonly completed: number;
  readonly jobs: number;
  /** Absent in files written before the simulators billed cost. */
  readonly cost: { readonly total: number; readonly gpuHours: number; readonly preempted: number; readonly byQueue: readonly { key: string; cost: number; gpuHours: number }[] } | null;
  readonly utilization: { readonly sampleSeconds: number; readonly series: readonly number[] } | null;
}

export interface OpenbRun {
  readonly kind: 'openb';
  readonly label: string;
  readonly policy: string;
  /** Arrived workload (% of capacity) -> unallocated GPU share (%), mean over seeds. */
  readonly unallocated: readonly { arrived: number; mean: number | null }[];
  readonly seeds: number;
}

/** One policy at one arrival rate of `gantry sim serve` (an inference service replayed). */
export interface ServeRun {
  readonly kind: 'serve';
  readonly label: string;
  readonly policy: string;
  readonly rateScale: number;
  readonly ttftP50Ms: number;
  readonly ttftP99Ms: number;
  readonly itlP99Ms: number;
  /** Share of one-minute windows whose p99 TTFT met the objective. */
  readonly sloAttainment: number;
  readonly gpuHours: number;
  readonly replicasMean: number;
  readonly replicasMax: number;
  readonly trainingGpuHoursLost: number;
  readonly coldStarts: number;
  readonly cachedStarts: number;
  readonly requests: number;
  readonly unserved: number;
  /** Absent when the run was not priced (--prices), or in files written before it billed. */
  readonly cost: number | null;
  /** Minute by minute (absent in files written before the timeline): replicas, GPU-h so far, p99 TTFT. */
  readonly timeline: { readonly replicas: readonly number[]; readonly gpuHours: readonly number[]; readonly ttftP99Ms: readonly (number | null)[] } | null;
}

export interface SimFile {
  readonly name: string;
  readonly kind: 'jobs' | 'openb' | 'serve';
  /** What the run was: trace, window, GPUs (jobs), pods file (openb), trace and objective (serve). */
  readonly about: string;
  /** serve: the p99 TTFT objective (ms) the attainment is measured against. */
  readonly ttftObjectiveMs?: number;
  readonly runs: readonly (JobsRun | OpenbRun | ServeRun)[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : NaN);

function jobsRun(r: Obj, label: string): JobsRun {
  const jct = isObj(r['jctSeconds']) ? r['jctSeconds'] : {};
  const wait = isObj(r['queueingDelaySeconds']) ? r['queueingDelaySeconds'] : {};
  const c = isObj(r['cost']) ? r['cost'] : null;
  const total = c && isObj(c['total']) ? c['total'] : null;
  const u = isObj(r['utilization']) ? r['utilization'] : null;
  return {
    kind: 'jobs',
    label,
    policy: String(r['policy']),
    meanJctSeconds: num(jct['mean']),
    p99JctSeconds: num(jct['p99']),
    meanWaitSeconds: num(wait['mean']),
    gpuUtilization: num(r['gpuUtilization']),
    fairnessIndex: num(r['fairnessIndex']),
    preemptions: num(r['preemptions']),
    gpuHoursLost: num(r['gpuHoursLostToPreemption']),
    completed: num(r['completed']),
    jobs: num(r['jobs']),
    cost: total
      ? {
          total: num(total['cost']),
          gpuHours: num(total['gpuHours']),
          preempted: num(total['preemptedCost']),
          byQueue: (Array.isArray(c?.['byQueue']) ? (c['byQueue'] as unknown[]) : []).filter(isObj).map((l) => ({ key: String(l['key']), cost: num(l['cost']), gpuHours: num(l['gpuHours']) })),
        }
      : null,
    utilization: u && Array.isArray(u['series']) ? { sampleSeconds: num(u['sampleSeconds']), series: (u['series'] as unknown[]).map(num) } : null,
  };
}

function openbRun(r: Obj, label: string): OpenbRun {
  const levels = isObj(r['unallocatedPct']) ? r['unallocatedPct'] : {};
  const unallocated = Object.entries(levels)
    .map(([arrived, v]) => ({ arrived: Number(arrived), mean: isObj(v) && typeof v['mean'] === 'number' ? v['mean'] : null }))
    .filter((p) => Number.isFinite(p.arrived))
    .sort((a, b) => a.arrived - b.arrived);
  return { kind: 'openb', label, policy: String(r['policy']), unallocated, seeds: Array.isArray(r['seeds']) ? r['seeds'].length : num(r['seeds']) };
}

const numbers = (v: unknown): number[] => (Array.isArray(v) ? v.map(num) : []);

function serveRun(r: Obj, label: string): ServeRun {
  const ttft = isObj(r['ttftMs']) ? r['ttftMs'] : {};
  const itl = isObj(r['itlMs']) ? r['itlMs'] : {};
  const rep = isObj(r['replicas']) ? r['replicas'] : {};
  const c = isObj(r['cost']) && isObj(r['cost']['total']) ? r['cost']['total'] : null;
  const t = isObj(r['timeline']) ? r['timeline'] : null;
  // An unpriced run bills 0: shown as not priced rather than free.
  const priced = c !== null && num(c['cost']) > 0;
  return {
    kind: 'serve',
    label,
    policy: String(r['policy']),
    rateScale: num(r['rateScale']),
    ttftP50Ms: num(ttft['p50']),
    ttftP99Ms: num(ttft['p99']),
    itlP99Ms: num(itl['p99']),
    sloAttainment: num(r['sloAttainment']),
    gpuHours: num(r['gpuSeconds']) / 3600,
    replicasMean: num(rep['mean']),
    replicasMax: num(rep['max']),
    trainingGpuHoursLost: num(r['trainingGpuSecondsLost']) / 3600,
    coldStarts: num(r['coldStarts']),
    cachedStarts: num(r['cachedStarts']),
    requests: num(r['requests']),
    unserved: num(r['unserved']),
    cost: priced ? num(c['cost']) : null,
    timeline: t ? { replicas: numbers(t['replicas']), gpuHours: numbers(t['gpuHours']), ttftP99Ms: (Array.isArray(t['ttftP99Ms']) ? t['ttftP99Ms'] : []).map((v) => (typeof v === 'number' ? v : null)) } : null,
  };
}

/** A results.json's text, parsed; throws an Error saying why when it is not one. */
export function parseSimFile(name: string, text: string): SimFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${name} is not JSON: pick the results.json a gantry sim --out directory holds`);
  }
  const results = isObj(doc) && Array.isArray(doc['results']) ? (doc['results'] as unknown[]).filter(isObj) : [];
  if (!isObj(doc) || results.length === 0 || results.some((r) => typeof r['policy'] !== 'string')) throw new Error(`${name} has no results per policy: it is not the results.json of gantry sim jobs, serve or openb`);
  const base = name.replace(/\.json$/, '');
  const label = (policy: string): string => `${policy} · ${base}`;
  if (results.every((r) => isObj(r['ttftMs']))) {
    const objective = num(doc['ttftObjectiveMs']);
    const rates = new Set(results.map((r) => r['rateScale']));
    const serveLabel = (r: Obj): string => `${String(r['policy'])}${rates.size > 1 ? ` ×${String(r['rateScale'])}` : ''} · ${base}`;
    return { name, kind: 'serve', about: `trace ${String(doc['trace'] ?? '?')}, p99 TTFT objective ${Number.isFinite(objective) ? objective : '?'} ms`, ttftObjectiveMs: objective, runs: results.map((r) => serveRun(r, serveLabel(r))) };
  }
  if (results.every((r) => isObj(r['jctSeconds']))) {
    const w = isObj(doc['window']) ? doc['window'] : {};
    const about = `${String(doc['trace'] || 'trace')} from ${String(w['from'] ?? '?')}, ${String(w['days'] ?? '?')} day(s) at load ${String(w['load'] ?? '?')}, ${String(w['jobs'] ?? '?')} jobs, ${String(doc['gpus'] ?? '?')} GPUs`;
    return { name, kind: 'jobs', about, runs: results.map((r) => jobsRun(r, label(String(r['policy'])))) };
  }
  if (results.every((r) => isObj(r['unallocatedPct']))) {
    return { name, kind: 'openb', about: `openb ${String(doc['pods'] ?? '')}${doc['family'] ? ` (family ${String(doc['family'])})` : ''}, workload ${String(doc['workload'] ?? 'online')}`, runs: results.map((r) => openbRun(r, label(String(r['policy'])))) };
  }
  throw new Error(`${name}: its results are not gantry sim jobs runs (jctSeconds), serve runs (ttftMs) or openb runs (unallocatedPct)`);
}
