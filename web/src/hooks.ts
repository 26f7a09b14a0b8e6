/** Small hooks the views share: loading a route (again when the server says it changed), the hash route. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { subscribe, type LiveEvent } from './live.js';

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: Error | undefined;
  reload(): void;
}

/**
 * Loads with `load` when `deps` change, and again (at most every 300 ms) on each live event
 * `wants` accepts; a reconnected stream (hello) always reloads, as events may have been missed.
 */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[], wants: (e: LiveEvent) => boolean = () => false): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  const wantsRef = useRef(wants);
  wantsRef.current = wants;
  useEffect(() => {
    let stale = false;
    loadRef.current().then(
      (d) => {
        if (stale) return;
        setData(d);
        setError(undefined);
      },
      (e: unknown) => {
        if (!stale) setError(e instanceof Error ? e : new Error(String(e)));
      },
    );
    return () => {
      stale = true;
    };
  }, [...deps, tick]);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    return subscribe((e) => {
      if (e.type !== 'hello' && !wantsRef.current(e)) return;
      timer ??= setTimeout(() => {
        timer = null;
        setTick((t) => t + 1);
      }, 300);
    });
  }, []);
  return { data, error, reload: () => setTick((t) => t + 1) };
}

/** The part of the URL after #, split: #/jobs/job-1 -> ['jobs', 'job-1']. */
export function useHashRoute(): string[] {
  const read = (): string[] => location.hash.replace(/^#\/?/, '').split('?')[0]!.split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}
