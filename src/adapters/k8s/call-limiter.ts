/**
 * FIFO limiter for the Kubernetes scheduler's API calls: at most `max` in flight. `flush`
 * starts every queued call at once: called when leadership is lost, so each is refused by the
 * fence and its caller handles that.
 */
export class CallLimiter {
  private running = 0;
  private readonly queue: (() => void)[] = [];
  constructor(private readonly max: number) {}
  run<T>(f: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const go = (): void => {
        this.running++;
        let p: Promise<T>;
        try {
          p = f();
        } catch (e) {
          p = Promise.reject(e as Error);
        }
        p.then(resolve, reject).finally(() => {
          this.running--;
          this.queue.shift()?.();
        });
      };
      if (this.running < this.max) go();
      else this.queue.push(go);
    });
  }
  flush(): void {
    for (const go of this.queue.splice(0)) go();
  }
  get busy(): number {
    return this.running + this.queue.length;
  }
}
