/**
 * Turns the controller's attempt events into ledger rows: at a start, the GPUs the bindings
 * hold per GPU model (a share by its milli-GPU, a MIG slice by its compute sevenths); at the
 * end, the rows are closed and their GPU-seconds and cost added to the Prometheus counters
 * (`gantry_gpu_seconds_total`, `gantry_cost_total`; admins' view only: they name teams).
 */
import { Counter, type Registry } from 'prom-client';
import type { Binding } from '../../core/model/cluster.js';
import type { JobRow } from '../../adapters/store/store.js';
import { grantShare } from '../metrics.js';
import type { AttemptOutcome, AttemptPart, ClosedPart, CostLedger } from '../../adapters/store/cost-ledger.js';

/** GPUs held per model by a set of bindings; `modelOf` names the model of a node's GPU. */
export function attemptParts(bindings: readonly Binding[], modelOf: (node: string, gpu: number) => string | undefined): AttemptPart[] {
  const byModel = new Map<string, number>();
  for (const b of bindings) {
    for (const g of b.gpus) {
      const model = modelOf(b.node, g.gpu) ?? 'unknown';
      byModel.set(model, (byModel.get(model) ?? 0) + grantShare(g));
    }
  }
  return [...byModel].map(([model, gpus]) => ({ model, gpus }));
}

export class CostRecorder {
  private readonly gpuSeconds: Counter;
  private readonly cost: Counter;

  constructor(
    private readonly ledger: CostLedger,
    private readonly modelOf: (node: string, gpu: number) => string | undefined,
    registry: Registry,
  ) {
    this.gpuSeconds = new Counter({ name: 'gantry_gpu_seconds_total', help: 'GPU-seconds of ended attempts (shares and MIG slices by their fraction), by team, queue, GPU model and outcome (preempted = work redone)', labelNames: ['team', 'queue', 'model', 'outcome'], registers: [registry] });
    this.cost = new Counter({ name: 'gantry_cost_total', help: 'Cost of ended attempts in the prices\' currency (gantry prices), by team, queue and GPU model', labelNames: ['team', 'queue', 'model'], registers: [registry] });
  }

  started(row: JobRow, bindings: readonly Binding[], at: number): void {
    const parts = attemptParts(bindings, this.modelOf);
    if (parts.length === 0) return; // no GPU: nothing to bill
    const service = row.spec.env['GANTRY_SERVICE'];
    this.ledger.open({ jobSeq: row.seq, attempt: row.attempts, team: row.team, queue: row.queue, owner: row.owner, startedAt: at, parts, ...(service !== undefined ? { service } : {}) });
  }

  ended(row: JobRow, at: number, outcome: AttemptOutcome): void {
    for (const p of this.ledger.close(row.seq, at, outcome)) this.count(p);
  }

  private count(p: ClosedPart): void {
    const ms = Math.max(0, p.endedAt - p.startedAt);
    this.gpuSeconds.inc({ team: p.team, queue: p.queue, model: p.model, outcome: p.outcome }, (p.gpus * ms) / 1000);
    this.cost.inc({ team: p.team, queue: p.queue, model: p.model }, Math.round((p.gpus * ms * p.priceMicros) / 3_600_000) / 1e6);
  }
}
