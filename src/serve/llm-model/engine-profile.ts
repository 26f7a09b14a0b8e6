/**
 * The timing profile of a simulated LLM server: how long a prefill and a decode step take and how
 * much KV cache it holds. The defaults are in the range of an 8B model on one H100 (vLLM-like
 * continuous batching): prefill ~12k tokens/s, ~8 ms per decode step growing with the batch, a
 * KV cache of ~200k tokens. Every figure is a knob, so a test or a benchmark can make a server
 * slower, smaller or faster to start.
 */
import { z } from 'zod';

export const llmEngineProfileSchema = z.object({
  /** Milliseconds of prefill per prompt token not found in the prefix cache. */
  prefillMsPerToken: z.number().min(0).max(100),
  /** Milliseconds of prefill per prompt token found in the prefix cache (a cheap lookup). */
  cachedPrefillMsPerToken: z.number().min(0).max(100),
  /** Fixed milliseconds of one engine step (one decode token for every running sequence). */
  decodeBaseMs: z.number().min(0).max(10_000),
  /** Extra milliseconds per step for each running sequence: decode slows as the batch grows. */
  decodeMsPerSequence: z.number().min(0).max(1_000),
  /** KV cache capacity in tokens (prompt plus generated, for every running sequence). */
  kvCacheTokens: z.number().int().min(16).max(100_000_000),
  /** Tokens per KV block; the prefix cache shares whole blocks. */
  blockTokens: z.number().int().min(1).max(1024),
  /** Most sequences in one batch. */
  maxRunningSequences: z.number().int().min(1).max(100_000),
  /** Most prompt tokens prefilled in one step (chunked prefill). */
  maxPrefillTokensPerStep: z.number().int().min(1).max(10_000_000),
});

export type LlmEngineProfile = z.infer<typeof llmEngineProfileSchema>;

export const DEFAULT_LLM_ENGINE_PROFILE: LlmEngineProfile = Object.freeze({
  prefillMsPerToken: 0.08,
  cachedPrefillMsPerToken: 0.004,
  decodeBaseMs: 8,
  decodeMsPerSequence: 0.12,
  kvCacheTokens: 200_000,
  blockTokens: 16,
  maxRunningSequences: 256,
  maxPrefillTokensPerStep: 8_192,
});
