import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LlmEngine, type LlmRequest, type TokenEvent } from '../../src/serve/llm-model/llm-engine.js';
import { DEFAULT_LLM_ENGINE_PROFILE, type LlmEngineProfile } from '../../src/serve/llm-model/engine-profile.js';
import { blockHashes, promptBlocks, syntheticBlockHashes, tokenize } from '../../src/serve/llm-model/prompt-blocks.js';
import { createRng } from '../../src/core/rng.js';

const profile = (over: Partial<LlmEngineProfile> = {}): LlmEngineProfile => ({ ...DEFAULT_LLM_ENGINE_PROFILE, ...over });

function req(id: string, promptTokens: number, maxTokens: number, group?: string, shared = 0): LlmRequest {
  return { id, promptTokens, maxTokens, blockHashes: syntheticBlockHashes(promptTokens, 16, id, group, shared) };
}

/** Runs the engine to completion on a virtual clock; returns each request's TTFT and finish time (ms). */
function run(engine: LlmEngine, arrivals: Array<{ at: number; req: LlmRequest }>): Map<string, { ttft: number; end: number; tokens: number }> {
  const out = new Map<string, { ttft: number; end: number; tokens: number }>();
  const pending = [...arrivals].sort((a, b) => a.at - b.at);
  const arrivedAt = new Map<string, number>();
  let now = 0;
  for (;;) {
    while (pending.length > 0 && pending[0]!.at <= now) {
      const a = pending.shift()!;
      engine.submit(a.req);
      arrivedAt.set(a.req.id, a.at);
    }
    const step = engine.step();
    if (!step) {
      if (pending.length === 0) break;
      now = pending[0]!.at;
      continue;
    }
    now += step.durationMs;
    for (const ev of step.tokens as TokenEvent[]) {
      const r = out.get(ev.id) ?? { ttft: now - arrivedAt.get(ev.id)!, end: 0, tokens: 0 };
      r.tokens++;
      if (ev.done) r.end = now;
      out.set(ev.id, r);
    }
  }
  return out;
}

test('llm engine: every request gets exactly max_tokens tokens, the last one marked done', () => {
  const e = new LlmEngine(profile());
  const r = run(e, [0, 1, 2, 3, 4].map((i) => ({ at: i * 5, req: req(`r${i}`, 100 + i * 50, 10 + i) })));
  for (let i = 0; i < 5; i++) assert.equal(r.get(`r${i}`)!.tokens, 10 + i);
  assert.equal(e.hasWork(), false);
  assert.equal(e.stats().kvUsage, 0, 'no block stays held once every request is done');
});

test('llm engine: a cached prefix makes time to first token much shorter', () => {
  const e = new LlmEngine(profile());
  const first = run(e, [{ at: 0, req: req('a', 4000, 1, 'sys', 3968) }]).get('a')!;
  const second = run(e, [{ at: 0, req: req('b', 4000, 1, 'sys', 3968) }]).get('b')!;
  assert.ok(second.ttft < first.ttft / 4, `cached ${second.ttft} ms vs cold ${first.ttft} ms`);
  assert.ok(e.stats().prefixHitRate > 0.45, `hit rate ${e.stats().prefixHitRate}`);
});

test('llm engine: decode slows as the batch grows (inter-token latency rises with concurrency)', () => {
  const one = run(new LlmEngine(profile()), [{ at: 0, req: req('x', 10, 200) }]).get('x')!;
  const many = run(new LlmEngine(profile()), Array.from({ length: 128 }, (_, i) => ({ at: 0, req: req(`y${i}`, 10, 200) }))).get('y0')!;
  const itl = (r: { ttft: number; end: number }): number => (r.end - r.ttft) / 199;
  assert.ok(itl(many) > itl(one) * 2, `itl alone ${itl(one)} ms, in a batch of 128 ${itl(many)} ms`);
});

test('llm engine: a bounded KV cache queues requests and preempts instead of overcommitting', () => {
  const e = new LlmEngine(profile({ kvCacheTokens: 2048 }));
  const arrivals = Array.from({ length: 8 }, (_, i) => ({ at: 0, req: req(`k${i}`, 300, 200) }));
  let maxUsage = 0;
  for (const a of arrivals) e.submit(a.req);
  let tokens = 0;
  for (let s = e.step(); s; s = e.step()) {
    maxUsage = Math.max(maxUsage, e.stats().kvUsage);
    tokens += s.tokens.length;
    assert.ok(e.stats().running * 300 <= 2048 + 16 * e.stats().running, 'never more prompts running than the cache holds');
  }
  assert.ok(maxUsage <= 1, `usage ${maxUsage}`);
  assert.equal(tokens, 8 * 200, 'preempted sequences resume and finish');
  assert.ok(e.stats().preemptions > 0, 'growth past the cache preempts');
});

test('llm engine: a request that can never fit is refused; a cancelled one frees its blocks', () => {
  const e = new LlmEngine(profile({ kvCacheTokens: 1024 }));
  assert.throws(() => e.submit(req('big', 1000, 100)), RangeError);
  e.submit(req('c', 500, 100));
  e.step();
  assert.ok(e.stats().kvUsage > 0);
  assert.equal(e.cancel('c'), true);
  assert.equal(e.stats().kvUsage, 0);
  assert.equal(e.hasWork(), false);
});

test('prompt blocks: shared leading text shares leading block hashes, nothing after a difference', () => {
  const a = tokenize(`${'system prompt words '.repeat(20)} question one`);
  const b = tokenize(`${'system prompt words '.repeat(20)} another question`);
  const ha = blockHashes(a, 16);
  const hb = blockHashes(b, 16);
  assert.equal(ha.length, Math.floor(a.length / 16));
  assert.deepEqual(ha.slice(0, 3), hb.slice(0, 3));
  const c = tokenize(`different ${'system prompt words '.repeat(20)}`);
  assert.notEqual(blockHashes(c, 16)[0], ha[0]);
  assert.ok(ha.every((h) => Number.isSafeInteger(h)));
});

test('prompt blocks in one pass: the same count and hashes as tokenize then blockHashes, on any text', () => {
  // Letters, digits, underscore, punctuation, ASCII and Unicode spaces, accented and CJK letters,
  // an emoji (a surrogate pair), a lone surrogate, a combining mark.
  const alphabet = ['a', 'Z', '7', '_', 'word', '.', ',', '-', '"', ' ', '  ', '\t', '\n', '\u00a0', '\u3000', 'é', '中文', '\u{1F600}', '\ud800', '\u0301', 'ß', '٣'];
  const rng = createRng(5);
  for (let round = 0; round < 400; round++) {
    let text = '';
    const parts = 1 + rng.int(300);
    for (let p = 0; p < parts; p++) text += alphabet[rng.int(alphabet.length)];
    const tokens = tokenize(text);
    for (const [blockTokens, maxBlocks] of [[16, Infinity], [4, 3], [1, 10], [8, 0]] as const) {
      const got = promptBlocks(text, blockTokens, maxBlocks);
      assert.equal(got.tokens, tokens.length, JSON.stringify(text));
      const cut = Number.isFinite(maxBlocks) ? tokens.slice(0, maxBlocks * blockTokens) : tokens;
      assert.deepEqual(got.hashes, blockHashes(cut, blockTokens), JSON.stringify(text));
    }
  }
});
