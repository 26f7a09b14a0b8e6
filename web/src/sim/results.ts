/**
 * The results.json files `gantry sim jobs --out` and `gantry sim openb --out` write, read in
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

export interface SimFile {
  readonly name: string;
  readonly kind: 'jobs' | 'openb';
  /** What the run was: trace, window, GPUs (jobs) or pods file (openb). */
  readonly about: string;
  readonly runs: readonly (JobsRun | OpenbRun)[];
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

/** A results.json's text, parsed; throws an Error saying why when it is not one. */
export function parseSimFile(name: string, text: string): SimFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`${name} is not JSON: pick the results.json a gantry sim --out directory holds`);
  }
  const results = isObj(doc) && Array.isArray(doc['results']) ? (doc['results'] as unknown[]).filter(isObj) : [];
  if (!isObj(doc) || results.length === 0 || results.some((r) => typeof r['policy'] !== 'string')) throw new Error(`${name} has no results per policy: it is not the results.json of gantry sim jobs or gantry sim openb`);
  const base = name.replace(/\.json$/, '');
  const label = (policy: string): string => `${policy} · ${base}`;
  if (results.every((r) => isObj(r['jctSeconds']))) {
    const w = isObj(doc['window']) ? doc['window'] : {};
    const about = `${String(doc['trace'] || 'trace')} from ${String(w['from'] ?? '?')}, ${String(w['days'] ?? '?')} day(s) at load ${String(w['load'] ?? '?')}, ${String(w['jobs'] ?? '?')} jobs, ${String(doc['gpus'] ?? '?')} GPUs`;
    return { name, kind: 'jobs', about, runs: results.map((r) => jobsRun(r, label(String(r['policy'])))) };
  }
  if (results.every((r) => isObj(r['unallocatedPct']))) {
    return { name, kind: 'openb', about: `openb ${String(doc['pods'] ?? '')}${doc['family'] ? ` (family ${String(doc['family'])})` : ''}, workload ${String(doc['workload'] ?? 'online')}`, runs: results.map((r) => openbRun(r, label(String(r['policy'])))) };
  }
  throw new Error(`${name}: its results are neither gantry sim jobs runs (jctSeconds) nor gantry sim openb runs (unallocatedPct)`);
}
