/**
 * Why a node was rejected for a request. Codes are small integers so that filters return
 * them without allocating; the messages are built once, here. Each code also has a stable
 * name for APIs and events.
 */
export const Reason = {
  None: 0,
  NodeUnschedulable: 1,
  UntoleratedTaint: 2,
  NodeSelectorMismatch: 3,
  InsufficientCpu: 4,
  InsufficientMemory: 5,
  GpuModelNotAllowed: 6,
  NoGpu: 7,
  InsufficientGpu: 8,
  InsufficientGpuMemory: 9,
  NoMigProfile: 10,
  NoFreeMigSlot: 11,
  NotInDomain: 12,
  InsufficientWholeGpu: 13,
} as const;

export type ReasonCode = (typeof Reason)[keyof typeof Reason];

export const REASON_COUNT = 14;

export const REASON_NAMES: readonly string[] = Object.entries(Reason)
  .sort((a, b) => a[1] - b[1])
  .map(([k]) => k);

export const REASON_MESSAGES: readonly string[] = [
  'fits',
  'node cordoned',
  'untolerated taint',
  'node selector does not match',
  'too little free CPU',
  'too little free memory',
  'GPU model not allowed',
  'no GPUs',
  'too little free GPU',
  'too little free GPU memory',
  'no GPU offers the MIG profile',
  'no free MIG slot',
  'outside the gang\'s topology domain',
  'too few whole free GPUs',
];

export interface ReasonCount {
  readonly code: string;
  readonly message: string;
  readonly nodes: number;
}

/** Turns per-code counts into a sorted list (most frequent first). */
export function reasonList(counts: ArrayLike<number>): ReasonCount[] {
  const out: ReasonCount[] = [];
  for (let c = 1; c < counts.length; c++) {
    const n = counts[c] ?? 0;
    if (n > 0) out.push({ code: REASON_NAMES[c] ?? String(c), message: REASON_MESSAGES[c] ?? '', nodes: n });
  }
  return out.sort((a, b) => b.nodes - a.nodes || (a.code < b.code ? -1 : 1));
}

/** "0/1213 nodes: 812 too little free GPU, 401 GPU model not allowed" */
export function formatReasons(total: number, reasons: readonly ReasonCount[]): string {
  const parts = reasons.map((r) => `${r.nodes} ${r.message}`);
  return `0/${total} nodes${parts.length ? ': ' + parts.join(', ') : ''}`;
}
