/**
 * A continuous-batching LLM engine as a timing model, the heart of the simulated model server:
 * the real server process (src/serve/llm-server) runs it against the wall clock, and the serving
 * simulator runs the same code against a virtual clock, so both see the same latencies.
 *
 * Each `step()` is one engine iteration, like vLLM's scheduler step:
 *  - waiting requests are admitted first come first served while the batch and the KV cache
 *    hold them (prompt blocks already in the prefix cache are shared, and their prefill is cheap);
 *  - admitted prompts are prefilled, at most `maxPrefillTokensPerStep` tokens per step (chunked);
 *    a prompt whose prefill completes emits its first token at the end of that step;
 *  - every sequence already decoding emits one token; when the KV cache cannot hold the next
 *    token the newest sequence is preempted (its blocks freed, recomputed later), as vLLM does;
 *  - the step lasts decodeBase + decodePerSequence x batch + the prefill work it did.
 * Pure: no clock, no I/O; the caller waits `durationMs` and then delivers the tokens.
 */
import type { LlmEngineProfile } from './engine-profile.js';
import { PrefixKvCache, type BlockLease } from './prefix-kv-cache.js';

export interface LlmRequest {
  readonly id: string;
  readonly promptTokens: number;
  /** Chained hashes of the prompt's full blocks (see prompt-blocks.ts). */
  readonly blockHashes: readonly number[];
  readonly maxTokens: number;
}

export interface TokenEvent {
  readonly id: string;
  /** 0 for the first generated token. */
  readonly index: number;
  readonly done: boolean;
}

export interface EngineStep {
  readonly durationMs: number;
  readonly tokens: readonly TokenEvent[];
  readonly prefillTokens: number;
  readonly batch: number;
}

export interface EngineStats {
  readonly running: number;
  readonly waiting: number;
  readonly kvUsage: number;
  readonly prefixHitRate: number;
  readonly preemptions: number;
  readonly generatedTokens: number;
  readonly promptTokens: number;
}

interface Sequence {
  readonly req: LlmRequest;
  lease: BlockLease | null;
  /** Prompt (plus, after a preemption, already generated) tokens still to prefill. */
  prefillLeft: number;
  /** Prompt tokens found in the prefix cache at admission, charged at the cached rate. */
  cachedTokens: number;
  generated: number;
}

export class LlmEngine {
  private readonly kv: PrefixKvCache;
  private readonly waiting: Sequence[] = [];
  private readonly running: Sequence[] = [];
  private readonly byId = new Map<string, Sequence>();
  private tick = 0;
  private preemptions = 0;
  private generatedTokens = 0;
  private promptTokens = 0;

  constructor(readonly profile: LlmEngineProfile) {
    this.kv = new PrefixKvCache(Math.floor(profile.kvCacheTokens / profile.blockTokens));
  }

  /** Queues a request. Refuses one that could never fit the KV cache (the server answers 400). */
  submit(req: LlmRequest): void {
    if (this.byId.has(req.id)) throw new Error(`duplicate request id ${req.id}`);
    if (this.blocksFor(req.promptTokens + req.maxTokens) > this.kv.capacityBlocks) {
      throw new RangeError(`prompt ${req.promptTokens} + max_tokens ${req.maxTokens} exceeds the KV cache of ${this.profile.kvCacheTokens} tokens`);
    }
    const seq: Sequence = { req, lease: null, prefillLeft: req.promptTokens, cachedTokens: 0, generated: 0 };
    this.byId.set(req.id, seq);
    this.waiting.push(seq);
    this.promptTokens += req.promptTokens;
  }

  /** Drops a request (client gone); frees its blocks. */
  cancel(id: string): boolean {
    const seq = this.byId.get(id);
    if (!seq) return false;
    this.remove(seq);
    return true;
  }

  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** Runs one iteration; null when there is nothing to do. */
  step(): EngineStep | null {
    if (!this.hasWork()) return null;
    this.tick++;
    this.admit();
    const p = this.profile;
    const tokens: TokenEvent[] = [];
    let prefillMs = 0;
    let prefillTokens = 0;
    let budget = p.maxPrefillTokensPerStep;
    const decoding: Sequence[] = [];
    const prefilled: Sequence[] = [];
    let batch = 0;
    for (const seq of this.running) {
      if (seq.prefillLeft === 0) { decoding.push(seq); batch++; continue; }
      if (budget === 0) continue;
      batch++;
      if (seq.cachedTokens > 0) {
        prefillMs += seq.cachedTokens * p.cachedPrefillMsPerToken;
        seq.cachedTokens = 0;
      }
      const take = Math.min(seq.prefillLeft, budget);
      budget -= take;
      prefillTokens += take;
      prefillMs += take * p.prefillMsPerToken;
      seq.prefillLeft -= take;
      if (seq.prefillLeft === 0) prefilled.push(seq);
    }
    const durationMs = p.decodeBaseMs + p.decodeMsPerSequence * batch + prefillMs;
    // A prefill that completes emits the first token; a decoding sequence emits its next one.
    for (const seq of [...prefilled, ...decoding]) {
      if (!this.byId.has(seq.req.id) || seq.lease === null) continue; // preempted below
      if (!this.ensureRoom(seq)) continue;
      seq.generated++;
      this.generatedTokens++;
      const done = seq.generated >= seq.req.maxTokens;
      tokens.push({ id: seq.req.id, index: seq.generated - 1, done });
      if (done) this.remove(seq);
    }
    return { durationMs, tokens, prefillTokens, batch };
  }

  /** Prompt tokens looked up in and found in the prefix cache (vLLM's prefix cache counters). */
  prefixTokens(): { queried: number; hit: number } {
    const s = this.kv.stats();
    return { queried: s.lookupBlocks * this.profile.blockTokens, hit: s.hitBlocks * this.profile.blockTokens };
  }

  stats(): EngineStats {
    const s = this.kv.stats();
    return {
      running: this.running.length,
      waiting: this.waiting.length,
      kvUsage: this.kv.usage(),
      prefixHitRate: s.lookupBlocks === 0 ? 0 : s.hitBlocks / s.lookupBlocks,
      preemptions: this.preemptions,
      generatedTokens: this.generatedTokens,
      promptTokens: this.promptTokens,
    };
  }

  private admit(): void {
    const p = this.profile;
    while (this.waiting.length > 0 && this.running.length < p.maxRunningSequences) {
      const seq = this.waiting[0]!;
      const hashes = seq.req.blockHashes;
      const cachedBlocks = this.kv.cachedPrefix(hashes);
      // Blocks for the prompt (and tokens generated before a preemption) plus the next token.
      const total = this.blocksFor(seq.req.promptTokens + seq.generated + 1);
      const lease = this.kv.acquire(hashes, Math.max(0, total - hashes.length), this.tick);
      if (!lease) break;
      this.waiting.shift();
      seq.lease = lease;
      const cachedTokens = Math.min(cachedBlocks * p.blockTokens, seq.req.promptTokens);
      seq.cachedTokens = cachedTokens;
      seq.prefillLeft = seq.req.promptTokens + seq.generated - cachedTokens;
      if (seq.prefillLeft === 0) {
        // Fully cached prompt: still one token of work to produce the first output token.
        seq.prefillLeft = 1;
        seq.cachedTokens = Math.max(0, cachedTokens - 1);
      }
      this.running.push(seq);
    }
  }

  /** Makes KV room for one more token of `seq`, preempting the newest sequences if needed. */
  private ensureRoom(seq: Sequence): boolean {
    const lease = seq.lease!;
    const need = this.blocksFor(seq.req.promptTokens + seq.generated + 1);
    while (lease.named.length + lease.anonymous < need) {
      if (this.kv.grow(lease)) continue;
      const victim = this.running[this.running.length - 1]!;
      this.preempt(victim);
      if (victim === seq) return false;
    }
    return true;
  }

  private preempt(seq: Sequence): void {
    this.preemptions++;
    this.kv.release(seq.lease!, this.tick);
    seq.lease = null;
    this.running.splice(this.running.indexOf(seq), 1);
    this.waiting.unshift(seq);
  }

  private remove(seq: Sequence): void {
    this.byId.delete(seq.req.id);
    if (seq.lease) this.kv.release(seq.lease, this.tick);
    seq.lease = null;
    const r = this.running.indexOf(seq);
    if (r >= 0) this.running.splice(r, 1);
    const w = this.waiting.indexOf(seq);
    if (w >= 0) this.waiting.splice(w, 1);
  }

  private blocksFor(tokens: number): number {
    return Math.ceil(tokens / this.profile.blockTokens);
  }
}
