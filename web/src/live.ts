/**
 * The server's change stream (GET /v1/events/stream), read with fetch so the token goes in a
 * header (EventSource cannot send one). Views subscribe to the kinds they show and read their
 * routes again when told; the stream reconnects by itself after a drop.
 */
import type { z } from 'zod';
import type { DashboardEventSchema } from '../../src/server/contract/dashboard-schemas.js';
import { openStream } from './api.js';

/** One event's data, typed by the contract's schema (the OpenAPI document's DashboardEvent). */
export type LiveEvent = z.output<typeof DashboardEventSchema>;
export type LiveStatus = 'connecting' | 'live' | 'offline';

type Handler = (e: LiveEvent) => void;
const handlers = new Set<Handler>();
const statusHandlers = new Set<(s: LiveStatus) => void>();
let controller: AbortController | null = null;
let status: LiveStatus = 'offline';

function setStatus(s: LiveStatus): void {
  status = s;
  for (const h of statusHandlers) h(s);
}

export function liveStatus(): LiveStatus {
  return status;
}

export function onLiveStatus(h: (s: LiveStatus) => void): () => void {
  statusHandlers.add(h);
  return () => statusHandlers.delete(h);
}

export function subscribe(h: Handler): () => void {
  handlers.add(h);
  return () => handlers.delete(h);
}

/** Splits SSE text into events: frames end with a blank line, `data:` lines carry the JSON. */
export function parseFrames(buffer: string): { events: LiveEvent[]; rest: string } {
  const events: LiveEvent[] = [];
  const frames = buffer.split('\n\n');
  const rest = frames.pop() ?? '';
  for (const f of frames) {
    const data = f
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    if (data === '') continue;
    try {
      events.push(JSON.parse(data) as LiveEvent);
    } catch {
      // a frame we do not understand is skipped
    }
  }
  return { events, rest };
}

async function run(signal: AbortSignal): Promise<void> {
  let delay = 500;
  // The first connection's hello is not news (views have just read); a later one is a
  // reconnection, after which views read again, as events may have been missed meanwhile.
  let connected = false;
  while (!signal.aborted) {
    setStatus('connecting');
    try {
      const reader = (await openStream('streamEvents', signal)).getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        const { events, rest } = parseFrames(buffer);
        buffer = rest;
        for (const e of events) {
          if (e.type === 'hello') {
            setStatus('live');
            delay = 500;
            if (!connected) {
              connected = true;
              continue;
            }
          }
          for (const h of handlers) h(e);
        }
      }
    } catch {
      // dropped or refused: try again below
    }
    if (signal.aborted) break;
    setStatus('offline');
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(10_000, delay * 2);
  }
}

export function startLive(): void {
  stopLive();
  controller = new AbortController();
  void run(controller.signal);
}

export function stopLive(): void {
  controller?.abort();
  controller = null;
  setStatus('offline');
}
