/**
 * The few Docker Engine API calls the container runner makes, over the daemon's unix socket
 * with node's http client (no docker CLI, no SDK).
 */
import { request } from 'node:http';

export interface ApiReply {
  readonly status: number;
  readonly text: string;
}

export function dockerCall(socket: string, method: string, path: string, body?: unknown): Promise<ApiReply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {};
    const req = request({ socketPath: socket, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(`the Docker daemon on ${socket} is not reachable (${e.code ?? e.message})`)));
    if (data) req.write(data);
    req.end();
  });
}

/** The daemon's error message (`{"message": ...}`), or the raw text. */
export function replyMessage(r: ApiReply): string {
  try {
    const m = (JSON.parse(r.text) as { message?: unknown }).message;
    if (typeof m === 'string') return m;
  } catch {
    // not JSON
  }
  return r.text.trim().slice(0, 300);
}

/** Splits Docker's multiplexed log stream (8-byte frame headers) into payload bytes. */
export class LogDemuxer {
  private buf = Buffer.alloc(0);
  constructor(private readonly out: (chunk: Buffer) => void) {}
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const size = this.buf.readUInt32BE(4);
      if (this.buf.length < 8 + size) break;
      this.out(this.buf.subarray(8, 8 + size));
      this.buf = this.buf.subarray(8 + size);
    }
  }
}

/** Streams a container's stdout and stderr as they come; resolves when the container ends. */
export function followLogs(socket: string, id: string, write: (b: Buffer) => void): Promise<void> {
  return new Promise((resolve) => {
    const demux = new LogDemuxer(write);
    const req = request({ socketPath: socket, method: 'GET', path: `/containers/${id}/logs?follow=1&stdout=1&stderr=1` }, (res) => {
      res.on('data', (c: Buffer) => demux.push(c));
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', () => resolve());
    req.end();
  });
}
