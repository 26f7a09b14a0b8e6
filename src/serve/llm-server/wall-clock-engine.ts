/**
 * Runs an LlmEngine against the wall clock: each step sleeps for its modelled duration (scaled
 * by `timeScale`), then hands the step's tokens to the requests' listeners. Step deadlines are
 * kept on an absolute timeline, so timer lateness does not accumulate over a long stream.
 */
import type { LlmEngine, LlmRequest, TokenEvent } from '../llm-model/llm-engine.js';

export type TokenListener = (event: TokenEvent) => void;

export class WallClockEngine {
  private readonly listeners = new Map<string, TokenListener>();
  private looping = false;
  private nextAt = 0;
  private idleResolvers: Array<() => void> = [];

  constructor(readonly engine: LlmEngine, private readonly timeScale: number, private readonly now: () => number = () => performance.now()) {}

  /** Queues `req`; `onToken` gets every token, the last with done = true. Throws RangeError if it can never fit. */
  submit(req: LlmRequest, onToken: TokenListener): void {
    this.engine.submit(req);
    this.listeners.set(req.id, onToken);
    this.kick();
  }

  cancel(id: string): void {
    if (this.listeners.delete(id)) this.engine.cancel(id);
    this.settleIdle();
  }

  /** Requests admitted or waiting. */
  inFlight(): number {
    return this.listeners.size;
  }

  /** Resolves once no request is left. */
  idle(): Promise<void> {
    if (this.listeners.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleResolvers.push(resolve));
  }

  private kick(): void {
    if (this.looping) return;
    this.looping = true;
    this.nextAt = this.now();
    this.runStep();
  }

  private runStep(): void {
    const step = this.engine.step();
    if (!step) {
      this.looping = false;
      this.settleIdle();
      return;
    }
    this.nextAt += step.durationMs * this.timeScale;
    const delay = Math.max(0, this.nextAt - this.now());
    setTimeout(() => {
      for (const ev of step.tokens) {
        const listener = this.listeners.get(ev.id);
        if (!listener) continue;
        if (ev.done) this.listeners.delete(ev.id);
        listener(ev);
      }
      this.settleIdle();
      // If the loop fell behind (a slow event loop), do not try to catch up with a burst.
      if (this.nextAt < this.now() - 50) this.nextAt = this.now();
      this.runStep();
    }, delay);
  }

  private settleIdle(): void {
    if (this.listeners.size > 0) return;
    const resolvers = this.idleResolvers;
    this.idleResolvers = [];
    for (const r of resolvers) r();
  }
}
