/** Command-line flags of the Kubernetes benchmark (bench.ts) and the pod sizes they draw. */
import type { Rng } from '../../src/core/rng.js';
import { GPUS_PER_NODE } from './measure.js';

export interface Args {
  nodes: number;
  pods: number;
  rates: number[];
  latencyPods: number;
  only: string | null;
  sizes: number[];
  kwok: boolean;
  runtime: string;
  restart: boolean;
  /** --restart with a standby replica running beside the leader (it takes over; a new standby starts). */
  standby: boolean;
  out: string | null;
}

export function args(): Args {
  const a: Args = { nodes: 1000, pods: 2000, rates: [100], latencyPods: 1000, only: null, sizes: [1, 1, 1, 2, 2, 4, 8], kwok: false, runtime: '2s', restart: false, standby: false, out: null };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i++) {
    const k = v[i];
    if (k === '--kwok') { a.kwok = true; continue; }
    if (k === '--restart') { a.restart = true; continue; }
    if (k === '--standby') { a.standby = true; continue; }
    const x = v[++i] ?? '';
    if (k === '--nodes') a.nodes = Number(x);
    else if (k === '--pods') a.pods = Number(x);
    else if (k === '--rate' || k === '--rates') a.rates = x.split(',').map(Number);
    else if (k === '--latency-pods') a.latencyPods = Number(x);
    else if (k === '--only') a.only = x;
    else if (k === '--runtime') a.runtime = x;
    else if (k === '--out') a.out = x;
    else if (k === '--sizes') {
      a.sizes = x.split(',').map(Number);
      if (a.sizes.some((n) => !Number.isInteger(n) || n < 1 || n > GPUS_PER_NODE)) throw new Error(`--sizes: GPUs per pod, 1..${GPUS_PER_NODE}, comma separated`);
    } else throw new Error(`unknown flag ${k}`);
  }
  return a;
}

export function drawSize(a: Args, rng: Rng): number {
  return a.sizes[Math.floor(rng.next() * a.sizes.length)] ?? 1;
}
