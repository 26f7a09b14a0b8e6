/**
 * The client side of the serving benchmarks (bench/shared-prefix.ts, bench/serve-e2e.ts): a
 * child process started and its first meaningful stdout line read, and a streamed OpenAI
 * completion sent through undici's `dispatch`, timed at the client: time to first byte (the
 * first server-sent event) and whether the stream ended with `data: [DONE]`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Dispatcher, Pool } from 'undici';

/** Starts `node ARGV...` and resolves with the first stdout line `pick` accepts. */
export function startAndRead(argv: readonly string[], pick: (line: string) => string | null): Promise<{ child: ChildProcess; value: string }> {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((res, rej) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      for (const line of out.split('\n')) {
        const v = pick(line);
        if (v !== null) return res({ child, value: v });
      }
    });
    child.once('exit', (code) => rej(new Error(`${argv.join(' ')} exited with ${code}`)));
  });
}

export interface StreamOutcome {
  /** performance.now() when sent. */
  readonly sentAt: number;
  /** ms to the first byte of the answer; -1 if none came. */
  ttftMs: number;
  status: number;
  /** 200 and the stream ended with `data: [DONE]`. */
  ok: boolean;
  /** Answered 200 but ended without `[DONE]` (cut). */
  cut: boolean;
}

/** Sends one streamed completion; `done` runs once it ended, whichever way. */
export function streamCompletion(pool: Pool, path: string, body: string, done: (o: StreamOutcome) => void): StreamOutcome {
  const o: StreamOutcome = { sentAt: performance.now(), ttftMs: -1, status: 0, ok: false, cut: false };
  let tail = '';
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart() {},
    onResponseStart(_c, code) {
      o.status = code;
    },
    onResponseData(_c, chunk) {
      if (o.ttftMs < 0) o.ttftMs = performance.now() - o.sentAt;
      tail = (tail + chunk.toString('latin1')).slice(-32);
    },
    onResponseEnd() {
      o.ok = o.status === 200 && tail.endsWith('data: [DONE]\n\n');
      o.cut = o.status === 200 && !o.ok;
      done(o);
    },
    onResponseError() {
      o.cut = o.status === 200;
      done(o);
    },
  };
  pool.dispatch({ path, method: 'POST', headers: ['content-type', 'application/json'], body }, handler);
  return o;
}
