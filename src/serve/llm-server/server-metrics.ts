/**
 * The simulated server's `/metrics`, in vLLM's metric names so that the autoscaler, dashboards
 * and tests read it as they would read a real vLLM: requests running and waiting, KV cache
 * usage, prefix cache queries and hits (tokens), preemptions, token counters, and histograms of
 * time to first token, inter-token latency and request latency (seconds).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LlmEngine } from '../llm-model/llm-engine.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80];

export interface LlmServerMetrics {
  readonly registry: Registry;
  readonly ttft: Histogram;
  readonly itl: Histogram;
  readonly e2e: Histogram;
  readonly requests: Counter<'finished_reason'>;
  readonly loadSeconds: Gauge;
}

export function llmServerMetrics(engine: LlmEngine, model: string): LlmServerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ model_name: model });
  let hitsSeen = 0;
  let queriesSeen = 0;
  let preemptSeen = 0;
  let promptSeen = 0;
  let genSeen = 0;
  const counterFrom = (name: string, help: string, read: () => number, seen: () => number, setSeen: (v: number) => void): void => {
    new Counter({
      name, help, registers: [registry],
      collect() {
        const v = read();
        this.inc(Math.max(0, v - seen()));
        setSeen(v);
      },
    });
  };
  new Gauge({ name: 'vllm:num_requests_running', help: 'Requests in the running batch.', registers: [registry], collect() { this.set(engine.stats().running); } });
  new Gauge({ name: 'vllm:num_requests_waiting', help: 'Requests waiting to be admitted.', registers: [registry], collect() { this.set(engine.stats().waiting); } });
  new Gauge({ name: 'vllm:gpu_cache_usage_perc', help: 'KV cache usage as a ratio (1 = full), as vLLM reports it.', registers: [registry], collect() { this.set(engine.stats().kvUsage); } });
  counterFrom('vllm:prefix_cache_hits_total', 'Prompt tokens found in the prefix cache.', () => engine.prefixTokens().hit, () => hitsSeen, (v) => { hitsSeen = v; });
  counterFrom('vllm:prefix_cache_queries_total', 'Prompt tokens looked up in the prefix cache.', () => engine.prefixTokens().queried, () => queriesSeen, (v) => { queriesSeen = v; });
  counterFrom('vllm:num_preemptions_total', 'Sequences preempted for KV cache space.', () => engine.stats().preemptions, () => preemptSeen, (v) => { preemptSeen = v; });
  counterFrom('vllm:prompt_tokens_total', 'Prompt tokens received.', () => engine.stats().promptTokens, () => promptSeen, (v) => { promptSeen = v; });
  counterFrom('vllm:generation_tokens_total', 'Tokens generated.', () => engine.stats().generatedTokens, () => genSeen, (v) => { genSeen = v; });
  return {
    registry,
    ttft: new Histogram({ name: 'vllm:time_to_first_token_seconds', help: 'Time from arrival to the first token.', buckets: LATENCY_BUCKETS, registers: [registry] }),
    itl: new Histogram({ name: 'vllm:inter_token_latency_seconds', help: 'Time between two tokens of a stream.', buckets: LATENCY_BUCKETS, registers: [registry] }),
    e2e: new Histogram({ name: 'vllm:e2e_request_latency_seconds', help: 'Time from arrival to the last token.', buckets: LATENCY_BUCKETS, registers: [registry] }),
    requests: new Counter({ name: 'vllm:request_success_total', help: 'Requests finished, by reason.', labelNames: ['finished_reason'], registers: [registry] }),
    loadSeconds: new Gauge({ name: 'gantry_llm_server_load_seconds', help: 'Seconds the server took to load its weights before it was ready.', registers: [registry] }),
  };
}
