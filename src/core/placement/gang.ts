/**
 * Gang placement: all members or none, as close together as the cluster allows.
 * Levels are tried from closest to widest: one node, one multi-node NVLink domain, one rack,
 * one zone, anywhere. At each level the domains whose free capacity could hold the whole gang
 * are tried tightest first (least capacity left over, so large domains stay whole for large
 * gangs); members are placed largest first with the policy's scoring, restricted to the
 * domain, inside a statement that is rolled back if any member does not fit.
 */
import type { Binding, Statement } from '../model/cluster.js';
import type { NodeState } from '../model/node.js';
import type { GangRequest, PodRequest } from '../model/request.js';
import type { ReasonCount } from '../framework/reasons.js';
import { prepareRequest, type Placer } from './placer.js';
import type { PreparedRequest } from '../framework/plugin.js';

export type GangLevel = 'node' | 'nvlink' | 'rack' | 'zone' | 'any';
export const GANG_LEVELS: readonly GangLevel[] = ['node', 'nvlink', 'rack', 'zone', 'any'];

export type GangResult =
  | { readonly ok: true; readonly bindings: readonly Binding[]; readonly level: GangLevel; readonly domain: string }
  | {
      readonly ok: false;
      /** The member that could not be placed at the widest level, and why. */
      readonly member: string;
      readonly reasons: readonly ReasonCount[];
      readonly message: string;
    };

/** Domains tried per level before widening (keeps a failing gang cheap on big clusters). */
const MAX_DOMAINS_PER_LEVEL = 16;

function domainKey(level: GangLevel, n: NodeState): string {
  switch (level) {
    case 'node':
      return n.name;
    case 'nvlink':
      return n.nvlinkDomain;
    case 'rack':
      return n.rack;
    case 'zone':
      return n.zone;
    case 'any':
      return '*';
  }
}

interface Demand {
  cpu: number;
  mem: number;
  wholeGpus: number;
  milli: number;
}

function gangDemand(g: GangRequest): Demand {
  const d: Demand = { cpu: 0, mem: 0, wholeGpus: 0, milli: 0 };
  for (const m of g.members) {
    d.cpu += m.cpuMilli;
    d.mem += m.memoryMiB;
    if (m.gpu.kind === 'whole') d.wholeGpus += m.gpu.count;
    if (m.gpu.kind === 'share') d.milli += m.gpu.milli;
  }
  return d;
}

export interface GangOptions {
  /** Node slots the gang may not use (e.g. reserved for another job). */
  readonly excludeSlots?: ReadonlySet<number>;
  /** The members already prepared (callers that place the same gang often keep these). */
  readonly prepared?: readonly PreparedRequest[];
}

/** Places a gang inside `stmt`; on failure nothing stays bound. */
export function placeGang(placer: Placer, gang: GangRequest, stmt: Statement, opts: GangOptions = {}): GangResult {
  const ex = opts.excludeSlots;
  const everywhere = ex && ex.size > 0 ? { excludeSlots: ex } : {};
  if (opts.prepared?.length === 1 || (opts.prepared === undefined && gang.members.length === 1)) {
    // A single pod (the common case): no domains to choose, one placement decision.
    const only = opts.prepared?.[0] ?? prepareRequest(gang.members[0] as PodRequest);
    const r = placer.placePrepared(only, everywhere);
    if (!r.ok) return { ok: false, member: only.req.id, reasons: r.reasons, message: r.message };
    stmt.bind(r.binding);
    return { ok: true, bindings: [r.binding], level: 'node', domain: r.binding.node };
  }
  const members = (opts.prepared ? [...opts.prepared] : gang.members.map((m) => prepareRequest(m))).sort((a, b) => b.milliGpu - a.milliGpu || b.req.cpuMilli - a.req.cpuMilli);
  let lastFailure: { member: string; reasons: readonly ReasonCount[]; message: string } | null = null;

  const tryDomain = (slots: number[]): Binding[] | null => {
    const mark = stmt.checkpoint();
    const placed: Binding[] = [];
    const gangNodes = new Map<number, number>();
    for (const m of members) {
      const r = placer.placePrepared(m, { candidates: slots, gangNodes });
      if (!r.ok) {
        lastFailure = { member: m.req.id, reasons: r.reasons, message: r.message };
        stmt.rollback(mark);
        return null;
      }
      stmt.bind(r.binding);
      placed.push(r.binding);
      const slot = placer.cluster.node(r.binding.node)?.slot ?? -1;
      gangNodes.set(slot, (gangNodes.get(slot) ?? 0) + 1);
    }
    return placed;
  };

  if (members.length === 0) return { ok: true, bindings: [], level: 'any', domain: '*' };

  const demand = gangDemand(gang);
  const nodes = ex && ex.size > 0 ? placer.cluster.nodes().filter((n) => !ex.has(n.slot)) : placer.cluster.nodes();
  for (const level of GANG_LEVELS) {
    const domains = new Map<string, { slots: number[]; cpu: number; mem: number; whole: number; milli: number }>();
    for (const n of nodes) {
      const key = domainKey(level, n);
      if (key === '') continue;
      let d = domains.get(key);
      if (!d) domains.set(key, (d = { slots: [], cpu: 0, mem: 0, whole: 0, milli: 0 }));
      d.slots.push(n.slot);
      if (n.unschedulable) continue;
      d.cpu += n.cpuFree;
      d.mem += n.memFree;
      d.whole += n.wholeFreeCount;
      d.milli += n.gpuMilliFreeTotal;
    }
    if (level !== 'any' && level !== 'node' && domains.size <= 1) continue; // level not modelled
    const fits = [...domains.entries()]
      .filter(([, d]) => d.cpu >= demand.cpu && d.mem >= demand.mem && d.whole >= demand.wholeGpus && d.milli >= demand.milli + demand.wholeGpus * 1000)
      .map(([key, d]) => ({ key, d, slack: (d.milli - demand.milli - demand.wholeGpus * 1000) / 1000 + (d.cpu - demand.cpu) / 1e6 }))
      .sort((a, b) => a.slack - b.slack || (a.key < b.key ? -1 : 1));
    for (const { key, d } of fits.slice(0, level === 'any' ? 1 : MAX_DOMAINS_PER_LEVEL)) {
      const placed = tryDomain(level === 'any' ? nodes.map((n) => n.slot) : d.slots);
      if (placed) return { ok: true, bindings: placed, level, domain: key };
    }
  }
  const failure = lastFailure as { member: string; reasons: readonly ReasonCount[]; message: string } | null;
  if (failure) return { ok: false, ...failure, message: `gang ${gang.id}: member ${failure.member} does not fit: ${failure.message}` };
  // No domain had the aggregate capacity: explain with the first member against the whole cluster.
  const first = members[0];
  const r = first ? placer.placePrepared(first, everywhere) : null;
  const reasons = r && !r.ok ? r.reasons : [];
  return {
    ok: false,
    member: first?.req.id ?? '',
    reasons,
    message: `gang ${gang.id}: the cluster has too little free capacity for all ${gang.members.length} members together${r && !r.ok ? ` (${r.message})` : ''}`,
  };
}
