/**
 * Generated LLM inference traces in the Azure format, to judge serving policies on load shapes
 * the shipped trace does not have. Arrivals are a Poisson process whose rate follows a shape;
 * each request's prompt and output lengths are drawn from a source trace (bootstrap), so token
 * shapes stay realistic.
 */
import { writeFileSync } from 'node:fs';
import type { Rng } from '../../core/rng.js';
import type { LlmTrace } from './llm-trace.js';

export const LOAD_SHAPES = ['flat', 'waves', 'bursty', 'ramp', 'step2', 'step4', 'step8'] as const;
export type LoadShape = (typeof LOAD_SHAPES)[number];

/** Rate multiplier at time t (seconds) for a shape; the mean over a long run is about 1. */
function shapeRate(shape: LoadShape, t: number, bursts: readonly number[]): number {
  switch (shape) {
    case 'flat': return 1;
    case 'waves': return 1 + 0.6 * Math.sin((2 * Math.PI * t) / 1200);
    case 'bursty': return bursts.some((b) => t >= b && t < b + 60) ? 3 : 0.7;
    case 'ramp': return 0.4 + 1.2 * Math.min(1, t / 3600);
    // Steps of k x: 10 min low, 10 min high, in turn, starting low; the mean stays 1.
    case 'step2': case 'step4': case 'step8': {
      const k = stepFactor(shape);
      return (Math.floor(t / 600) % 2 === 1 ? 2 * k : 2) / (1 + k);
    }
  }
}

function stepFactor(shape: 'step2' | 'step4' | 'step8'): number {
  return shape === 'step2' ? 2 : shape === 'step4' ? 4 : 8;
}

export function generateLlmTrace(source: LlmTrace, shape: LoadShape, seconds: number, meanRate: number, rng: Rng, file: string): void {
  const bursts: number[] = [];
  for (let b = 120 + rng.int(240); b < seconds; b += 180 + rng.int(420)) bursts.push(b);
  const peak = shape === 'bursty' ? 3 : shape === 'waves' ? 1.6 : shape === 'ramp' ? 1.6
    : shape === 'flat' ? 1 : (2 * stepFactor(shape)) / (1 + stepFactor(shape));
  const t0 = Date.parse('2024-05-13T00:00:00Z');
  const lines = ['TIMESTAMP,ContextTokens,GeneratedTokens'];
  // Thinning: candidates at the peak rate, kept with probability rate(t) / peak.
  for (let t = 0; ; ) {
    t += -Math.log(1 - rng.next()) / (meanRate * peak);
    if (t >= seconds) break;
    if (rng.next() * peak > shapeRate(shape, t, bursts)) continue;
    const r = source.requests[rng.int(source.requests.length)]!;
    const stamp = new Date(t0 + t * 1000).toISOString().replace('T', ' ').replace('Z', '');
    lines.push(`${stamp}0000,${r.promptTokens},${r.outputTokens}`);
  }
  writeFileSync(file, lines.join('\n') + '\n');
}
