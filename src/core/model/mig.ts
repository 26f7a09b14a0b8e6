/**
 * MIG geometry on one GPU: an 8-bit bitmap of occupied memory slices plus a budget of 7 SM
 * slices (../shared/reference/gpu.md, 1.3). A GPU instance of profile p may start at slot s
 * when s is one of p's valid starts, slices [s, s+size) are free, the SM budget allows it,
 * the profile's instance limit is not reached, and (for "+me") no other media instance exists.
 */
import type { MigProfile } from './gpu-catalog.js';

export const MIG_MEMORY_SLICES = 8;
export const MIG_SM_SLICES = 7;

export interface MigInstance {
  profile: string;
  start: number;
  /** Who holds it (a workload id), or null for an idle instance created ahead of time. */
  owner: string | null;
}

export interface MigState {
  /** Bit i set = memory slice i occupied. */
  usedMask: number;
  smUsed: number;
  instances: MigInstance[];
  /**
   * A fixed layout: the only (profile, start) placements that exist, as `profile@start`
   * (real GPUs whose instances an admin created). Absent = any valid placement may be made.
   */
  readonly fixed?: ReadonlySet<string>;
}

export function emptyMigState(fixed?: readonly { profile: string; start: number }[]): MigState {
  return fixed ? { usedMask: 0, smUsed: 0, instances: [], fixed: new Set(fixed.map((f) => `${f.profile}@${f.start}`)) } : { usedMask: 0, smUsed: 0, instances: [] };
}

function sliceMask(start: number, size: number): number {
  return ((1 << size) - 1) << start;
}

/** Valid start slots for `profile` on a GPU in state `mig`, lowest first. */
export function validStarts(mig: MigState, profile: MigProfile): number[] {
  if (mig.smUsed + profile.smSlices > MIG_SM_SLICES) return [];
  let count = 0;
  let media = false;
  for (const inst of mig.instances) {
    if (inst.profile === profile.name) count++;
    if (inst.profile.endsWith('+me')) media = true;
  }
  if (count >= profile.maxInstances) return [];
  if (profile.mediaExtensions && media) return [];
  const out: number[] = [];
  for (const s of profile.starts) {
    if (s + profile.memSlices > MIG_MEMORY_SLICES) continue;
    if ((mig.usedMask & sliceMask(s, profile.memSlices)) === 0 && (mig.fixed === undefined || mig.fixed.has(`${profile.name}@${s}`))) out.push(s);
  }
  return out;
}

/**
 * How much placement freedom a MIG state still offers, over all non-media profiles of the
 * model: each placeable (profile, start) pair counts its memory slices. Used to choose the
 * start slot (and the GPU) that destroys the least future freedom.
 */
export function migFreedom(mig: MigState, profiles: readonly MigProfile[]): number {
  let total = 0;
  for (const p of profiles) {
    if (p.mediaExtensions) continue;
    total += validStarts(mig, p).length * p.memSlices;
  }
  return total;
}

export function applyMig(mig: MigState, profile: MigProfile, start: number, owner: string | null): void {
  mig.usedMask |= sliceMask(start, profile.memSlices);
  mig.smUsed += profile.smSlices;
  mig.instances.push({ profile: profile.name, start, owner });
  instanceNames.delete(mig);
}

export function releaseMig(mig: MigState, profile: MigProfile, start: number): boolean {
  const i = mig.instances.findIndex((x) => x.profile === profile.name && x.start === start);
  if (i < 0) return false;
  mig.instances.splice(i, 1);
  instanceNames.delete(mig);
  mig.usedMask &= ~sliceMask(start, profile.memSlices);
  mig.smUsed -= profile.smSlices;
  return true;
}

export function cloneMig(mig: MigState): MigState {
  return { usedMask: mig.usedMask, smUsed: mig.smUsed, instances: mig.instances.map((x) => ({ ...x })), ...(mig.fixed ? { fixed: mig.fixed } : {}) };
}

/**
 * The best start slot for `profile`: the one that leaves the most placement freedom for
 * later instances (ties: lowest slot). Returns the slot and the freedom lost, or null.
 */
export function bestMigStart(
  mig: MigState,
  profile: MigProfile,
  profiles: readonly MigProfile[],
): { readonly start: number; readonly loss: number } | null {
  // The answer depends only on the occupied slices, the SM slices used, and which profiles the
  // instances have (not their order or owners): a GPU has few such states, so it is kept.
  let byState = bestStartCache.get(profiles);
  if (!byState) bestStartCache.set(profiles, (byState = new Map()));
  const key = stateKey(mig, profile);
  const known = byState.get(key);
  if (known !== undefined) return known;
  const r = computeBestMigStart(mig, profile, profiles);
  if (byState.size < 65_536) byState.set(key, r);
  return r;
}

const bestStartCache = new WeakMap<readonly MigProfile[], Map<string, { readonly start: number; readonly loss: number } | null>>();

/**
 * The sorted profile names of a state's instances, kept per state object until applyMig or
 * releaseMig changes it (the only places that change `instances`): scoring reads it for
 * every MIG GPU of every node it rescores.
 */
const instanceNames = new WeakMap<MigState, string>();

const fixedKeys = new WeakMap<ReadonlySet<string>, string>();
function fixedKey(fixed: ReadonlySet<string>): string {
  let k = fixedKeys.get(fixed);
  if (k === undefined) fixedKeys.set(fixed, (k = [...fixed].sort().join(',')));
  return k;
}

function stateKey(mig: MigState, profile: MigProfile): string {
  let names = instanceNames.get(mig);
  if (names === undefined) {
    const list = mig.instances.map((x) => x.profile);
    if (list.length > 1) list.sort();
    names = list.join(',');
    instanceNames.set(mig, names);
  }
  const key = `${profile.name}|${mig.usedMask}|${mig.smUsed}|${names}`;
  return mig.fixed ? `${key}|${fixedKey(mig.fixed)}` : key;
}

function computeBestMigStart(
  mig: MigState,
  profile: MigProfile,
  profiles: readonly MigProfile[],
): { readonly start: number; readonly loss: number } | null {
  const starts = validStarts(mig, profile);
  if (starts.length === 0) return null;
  const before = migFreedom(mig, profiles);
  let best: { start: number; loss: number } | null = null;
  for (const s of starts) {
    const trial = cloneMig(mig);
    applyMig(trial, profile, s, null);
    const loss = before - migFreedom(trial, profiles);
    if (best === null || loss < best.loss) best = { start: s, loss };
  }
  return best;
}
