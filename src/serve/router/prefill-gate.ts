/**
 * Late binding of prompts to replicas (pure; the HTTP router and the simulator both use it).
 *
 * A replica queues the prompts it has not started answering; a request queued there waits for
 * that replica even when a new replica becomes Ready a second later, so after a step in load the
 * old replicas' queues make the minute's p99 time to first token. The gate keeps that queue
 * short: a replica takes a new request only while the prompt tokens it has been sent and not yet
 * answered (no first byte back) stay within a bound; otherwise the request waits in the router,
 * in arrival order, and goes to the first replica whose queue falls under the bound or that
 * becomes Ready. Sequences that are decoding do not count: the batch a replica runs is not
 * capped, only the prompts waiting in it. A replica with nothing waiting always takes one
 * request, however long its prompt.
 *
 * The bound is the prompt tokens a replica prefills in a share of the latency objective, so a
 * request that passes the gate can still meet it (Knative's activator holds requests above a
 * replica's concurrency in the same way, counted in requests rather than in work).
 */

/**
 * The prompt tokens a request adds to a replica's queue: those the replica must prefill, i.e.
 * not the leading blocks it already holds (a prefix cache hit prefills only the rest). Counting
 * whole prompts made a prefix's own replica look full after a few requests, and the held ones
 * then went to replicas without the prefix (docs/benchmarks.md, "Shared-prefix routing").
 */
export function queuedPromptTokens(promptTokens: number, heldBlocks: number, blockTokens: number): number {
  if (heldBlocks <= 0) return promptTokens;
  return Math.max(1, promptTokens - heldBlocks * blockTokens);
}

/** A replica's prompts sent and not yet answered. */
export interface PrefillQueue {
  /** Requests sent to it that have not had their first byte back. */
  awaiting: number;
  /** Their prompt tokens. */
  awaitingTokens: number;
}

/** Share of the time-to-first-token objective a replica's waiting prompts may take. */
export const PREFILL_OBJECTIVE_SHARE = 0.5;

/** Prompt tokens a replica may have waiting, for an objective and a prefill cost (ms per token). */
export function prefillBoundTokens(ttftObjectiveMs: number, prefillMsPerToken: number, share = PREFILL_OBJECTIVE_SHARE): number {
  if (!(prefillMsPerToken > 0)) return Infinity;
  return Math.max(1, Math.floor((ttftObjectiveMs * share) / prefillMsPerToken));
}

/** Whether a replica may take a request of `promptTokens` now. */
export function admitsPrompt(q: PrefillQueue, promptTokens: number, boundTokens: number): boolean {
  return q.awaiting === 0 || q.awaitingTokens + promptTokens <= boundTokens;
}

export function notePromptSent(q: PrefillQueue, promptTokens: number): void {
  q.awaiting++;
  q.awaitingTokens += promptTokens;
}

/** The replica answered (first byte), failed or dropped a request it had been sent. */
export function notePromptAnswered(q: PrefillQueue, promptTokens: number): void {
  q.awaiting--;
  q.awaitingTokens -= promptTokens;
  if (q.awaiting <= 0) {
    q.awaiting = 0;
    q.awaitingTokens = 0;
  }
}

/** The bound a service's spec asks for: none without a TTFT objective or with a share of 0. */
export function promptQueueTokensOf(spec: { readonly routing: { readonly promptQueueShare: number }; readonly objective: { readonly ttftP99Ms?: number | undefined }; readonly autoscaler: { readonly profile: { readonly prefillMsPerToken?: number | undefined } } }, defaultPrefillMsPerToken: number): number {
  const objective = spec.objective.ttftP99Ms;
  if (objective === undefined || spec.routing.promptQueueShare <= 0) return Infinity;
  return prefillBoundTokens(objective, spec.autoscaler.profile.prefillMsPerToken ?? defaultPrefillMsPerToken, spec.routing.promptQueueShare);
}
