/**
 * The FGD paper's experiment (openb README, "The experiment"): per seed, shuffle the pods
 * (sorted by name), append pods sampled with replacement until the requested GPU reaches
 * `inflate` x cluster capacity, place them one by one (pods never leave; a pod that fits
 * nowhere is dropped), and record GPU allocation against arrived workload in 1 % bins.
 * Pure apart from the clock used for throughput, which the caller passes in.
 *
 * Ties between equal scores go to the node first in name order (the placer's rule). Which node
 * that is depends on the names, and the reference simulator renames its nodes per seed (see
 * `NodeOrder`): by default the replay does the same, so that ties fall where they fell there.
 */
import { Cluster } from '../../core/model/cluster.js';
import { Placer } from '../../core/placement/placer.js';
import { createProfile, type PolicyName } from '../../core/policies.js';
import { targetWorkload } from '../../core/plugins/score/fragmentation.js';
import { OnlineWorkload } from '../../core/plugins/score/online-workload.js';
import { createRng, shuffle } from '../../core/rng.js';
import type { OpenbNode, OpenbPod } from './trace.js';

export interface ReplayResult {
  readonly policy: PolicyName;
  readonly seed: number;
  /** allocation % of GPU capacity per arrived-workload % bin (index = bin), NaN where empty. */
  readonly curve: Float64Array;
  readonly placed: number;
  readonly failed: number;
  readonly decisions: number;
  readonly seconds: number;
}

export const MAX_BIN = 130;

/**
 * The target workload of `gantry`: `online` (default) learns it from the pods that arrived so
 * far, as `gantry up` and `gantry k8s` do; `oracle` gives it the whole trace's classes, the
 * FGD paper's setting. `fgd` always has the whole trace's, as in the paper it reproduces.
 */
export type WorkloadMode = 'online' | 'oracle';
export const WORKLOAD_MODES: readonly WorkloadMode[] = ['online', 'oracle'];

/**
 * How the nodes are named for the replay, which decides where ties between equal scores go.
 *
 * - `shuffled` (default): as the reference simulator does. In hkust-adsl/kubernetes-scheduler-simulator,
 *   pkg/simulator/simulator.go (syncClusterResourceList), the nodes are sorted by name and node i
 *   is then renamed "%04d-<name>" with the i-th entry of rand.Perm(#nodes), drawn from the run's
 *   seeded random stream (pkg/simulator/core.go seeds it with the tuning seed, 42..51). Its
 *   scheduler (a kube-scheduler 1.20.5 fork) breaks ties by node name, so the tie order is a
 *   fresh random permutation of the nodes per seed, fixed for the whole run. (Upstream
 *   kube-scheduler's random pick among tied nodes for every pod does not match the published
 *   numbers at all: see docs/benchmarks.md, "Fidelity to the FGD paper's simulator".)
 *   The order matters most for FGD and CPU-only pods: placing one on any node whose
 *   fragmentation it leaves unchanged scores the same (50), and the original names would pile
 *   them onto the same first nodes every run (openb-node-0000.. are 22 P100 nodes in a row).
 *   Our permutation comes from its own stream derived from the seed (Go's math/rand is not
 *   reproduced), so results match the reference in distribution over seeds, not per seed.
 * - `name`: the original node names (the first node in name order wins a tie).
 */
export type NodeOrder = 'shuffled' | 'name';
export const NODE_ORDERS: readonly NodeOrder[] = ['shuffled', 'name'];

/** The nodes as the replay names them for `seed` (see NodeOrder). */
export function nodesForSeed(nodes: readonly OpenbNode[], seed: number, order: NodeOrder = 'shuffled'): readonly OpenbNode[] {
  if (order === 'name') return nodes;
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const perm = shuffle(
    sorted.map((_, i) => i),
    createRng(seed * 7919 + 29),
  );
  const width = Math.max(4, String(Math.max(0, sorted.length - 1)).length);
  return sorted.map((n, i) => ({ ...n, name: `${String(perm[i]).padStart(width, '0')}-${n.name}` }));
}

/** The arrival sequence for one seed. */
export function arrivals(pods: readonly OpenbPod[], seed: number, inflate: number, capacityMilli: number): OpenbPod[] {
  const rng = createRng(seed);
  const sorted = [...pods].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const seq = shuffle(sorted, rng);
  let requested = 0;
  for (const p of seq) requested += p.totalMilliGpu;
  const target = inflate * capacityMilli;
  let extra = 0;
  while (requested < target && pods.length > 0) {
    const p = pods[rng.int(pods.length)] as OpenbPod;
    seq.push({ ...p, id: `${p.id}-x${extra++}` });
    requested += p.totalMilliGpu;
  }
  return seq;
}

export interface ReplayOptions {
  readonly nodes: readonly OpenbNode[];
  readonly pods: readonly OpenbPod[];
  readonly policy: PolicyName;
  readonly seed: number;
  readonly inflate: number;
  /** How nodes are named, hence where ties go (default `shuffled`, as the reference). */
  readonly nodeOrder?: NodeOrder;
  /** Where gantry's target workload comes from (default online; see WorkloadMode). */
  readonly workload?: WorkloadMode;
  /** Monotonic clock in milliseconds (for the throughput figure only). */
  readonly now: () => number;
  readonly onProgress?: (done: number, total: number) => void;
}

export function replay(o: ReplayOptions): ReplayResult {
  const cluster = new Cluster(nodesForSeed(o.nodes, o.seed, o.nodeOrder));
  const capacity = o.nodes.reduce((s, n) => s + n.gpuCount, 0) * 1000;
  const seq = arrivals(o.pods, o.seed, o.inflate, capacity);
  const online = (o.workload ?? 'online') === 'online' && o.policy === 'gantry' ? new OnlineWorkload() : null;
  const profile = createProfile(o.policy, { workload: online ?? targetWorkload(o.pods) });
  const placer = new Placer(cluster, profile, createRng(o.seed * 7919 + 17));
  const sums = new Float64Array(MAX_BIN + 2);
  const counts = new Float64Array(MAX_BIN + 2);
  let arrived = 0;
  let allocated = 0;
  let placed = 0;
  let failed = 0;
  const unit = capacity / 100;
  const t0 = o.now();
  const step = Math.max(1, Math.floor(seq.length / 100));
  for (let i = 0; i < seq.length; i++) {
    const pod = seq[i] as OpenbPod;
    online?.observe(pod);
    const r = placer.place(pod);
    if (r.ok) {
      cluster.bind(r.binding);
      for (const rs of profile.reservers ?? []) rs.reserve(r.binding);
      allocated += pod.totalMilliGpu;
      placed++;
    } else {
      failed++;
    }
    arrived += pod.totalMilliGpu;
    const bin = Math.round(arrived / unit);
    if (bin <= MAX_BIN + 1) {
      sums[bin] = (sums[bin] as number) + (allocated / capacity) * 100;
      counts[bin] = (counts[bin] as number) + 1;
    }
    if (o.onProgress && i % step === 0) o.onProgress(i, seq.length);
  }
  const seconds = (o.now() - t0) / 1000;
  const curve = new Float64Array(MAX_BIN + 1);
  for (let b = 0; b <= MAX_BIN; b++) curve[b] = (counts[b] as number) > 0 ? (sums[b] as number) / (counts[b] as number) : NaN;
  // Bins inside the arrived range that no arrival landed in take the previous bin's value
  // (allocation is monotone); bins beyond what arrived stay NaN.
  const reached = Math.min(MAX_BIN, Math.round(arrived / unit));
  if (Number.isNaN(curve[0])) curve[0] = 0; // nothing arrived, nothing allocated
  for (let b = 1; b <= reached; b++) if (Number.isNaN(curve[b])) curve[b] = curve[b - 1] as number;
  o.onProgress?.(seq.length, seq.length);
  return { policy: o.policy, seed: o.seed, curve, placed, failed, decisions: seq.length, seconds };
}
