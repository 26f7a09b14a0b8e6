/**
 * List-then-watch of one resource with client-node's ListWatch, restarted after errors (the
 * library reports an error and stops). `synced` resolves once the first list was delivered.
 * A resource whose API is not installed (404: e.g. no PodGroup CRD) is retried quietly and
 * counts as synced and empty meanwhile.
 */
import { ListWatch, Watch, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { apiError } from './api.js';

export interface WatchHandlers<T> {
  upsert(obj: T): void;
  remove(obj: T): void;
}

export class ResourceWatch<T extends KubernetesObject> {
  private lw: ListWatch<T> | null = null;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private resolveSynced: (() => void) | null = null;
  readonly synced: Promise<void>;
  missing = false;
  private listed = false;

  constructor(
    private readonly kc: KubeConfig,
    readonly path: string,
    private readonly list: () => Promise<KubernetesListObject<T>>,
    private readonly handlers: WatchHandlers<T>,
    private readonly log: (msg: string) => void,
    private readonly retryMs = 2000,
    /** What is kept of each object listed or watched (the cache holds only that). */
    private readonly keep: (obj: T) => T = (o) => o,
    /** Only objects with these labels (`list` must apply the same selector). */
    private readonly labelSelector?: string,
  ) {
    this.synced = new Promise((r) => {
      this.resolveSynced = r;
    });
  }

  start(): void {
    this.stopped = false;
    const lw = new ListWatch<T>(this.path, this.keepingWatch(), () => this.listOrMissing(), false, this.labelSelector);
    lw.on('add', (o) => this.handlers.upsert(o));
    lw.on('update', (o) => this.handlers.upsert(o));
    lw.on('delete', (o) => this.handlers.remove(o));
    lw.on('error', (e) => this.restart(e));
    this.lw = lw;
    lw.start().then(
      () => this.afterStart(),
      (e: unknown) => this.restart(e),
    );
  }

  /** A Watch whose events carry only what `keep` keeps (ListWatch caches what its Watch delivers). */
  private keepingWatch(): Watch {
    const w = new Watch(this.kc);
    const keep = this.keep;
    const watch: Watch['watch'] = (path, params, cb, done) => w.watch(path, params, (phase, obj: T, raw) => cb(phase, phase === 'ERROR' || phase === 'BOOKMARK' ? obj : keep(obj), raw), done);
    return Object.assign(Object.create(w) as Watch, { watch });
  }

  private async listOrMissing(): Promise<KubernetesListObject<T>> {
    try {
      const l = await this.list();
      this.missing = false;
      this.listed = true;
      return { ...l, items: l.items.map(this.keep) };
    } catch (e) {
      const err = apiError(e);
      if (err.status === 404) {
        if (!this.missing) this.log(`${this.path}: API not installed; retrying`);
        this.missing = true;
        this.markSynced();
      }
      throw err;
    }
  }

  /** ListWatch.start() also resolves when the list failed (it reports that as an error event). */
  private afterStart(): void {
    if (this.listed) this.markSynced();
  }

  private markSynced(): void {
    const r = this.resolveSynced;
    this.resolveSynced = null;
    r?.();
  }

  private restart(e: unknown): void {
    if (this.stopped) return;
    if (!this.missing) this.log(`watch ${this.path} failed (${apiError(e).message}); restarting`);
    if (this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      if (this.stopped || !this.lw) return;
      this.lw.start().then(
        () => this.afterStart(),
        (err: unknown) => this.restart(err),
      );
    }, this.retryMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    await this.lw?.stop();
  }
}
