/**
 * A dataset under a prefix of an S3-compatible bucket (AWS SDK v3). Credentials come from the
 * server's environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the SDK's usual chain);
 * they are never stored with the dataset. Each GET carries the ETag the version recorded
 * (If-Match), so an object replaced since is refused instead of copied. Objects larger than
 * RANGE_BYTES are fetched as parallel ranged GETs and hashed in order as they arrive.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { UserError } from '../../core/errors.js';
import { newChecksum } from './checksum.js';
import { type ChecksumKind, checkDatasetPath, type DatasetFile, type DatasetSource, type ListedFile, sourceChanged } from './dataset-source.js';

export const RANGE_BYTES = 16 << 20;
const RANGES_IN_FLIGHT = 4;

export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
  readonly endpoint?: string;
  readonly region?: string;
}

export function s3Client(loc: S3Location): S3Client {
  return new S3Client({
    region: loc.region ?? process.env['AWS_REGION'] ?? 'us-east-1',
    ...(loc.endpoint ? { endpoint: loc.endpoint, forcePathStyle: true } : {}),
    maxAttempts: 3,
    // No call waits forever: a store that accepts no connection, or stops sending, fails the
    // call (and the cache agent's pass goes on to report it) instead of holding it open.
    requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
  });
}

/** The SDK's error as one of ours: what failed, on which bucket, and why. */
function s3Error(e: unknown, what: string): Error {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode;
  if (err.name === 'PreconditionFailed' || status === 412) return sourceChanged(what);
  if (err.name === 'NoSuchBucket') return new UserError('DATASET_SOURCE_UNREADABLE', `${what}: no such bucket`);
  if (err.name === 'NoSuchKey' || err.name === 'NotFound') return sourceChanged(`${what} is gone`);
  if (err.name === 'InvalidAccessKeyId' || err.name === 'SignatureDoesNotMatch' || err.name === 'AccessDenied' || status === 403) return new UserError('DATASET_SOURCE_DENIED', `${what}: the object store refused the server's credentials (${err.name ?? status}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY where gantry up runs`);
  if (err.name === 'CredentialsProviderError') return new UserError('DATASET_SOURCE_DENIED', `${what}: the server has no S3 credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY where gantry up runs)`);
  if (e instanceof UserError) return e;
  return new UserError('DATASET_SOURCE_UNREADABLE', `${what}: ${err.name ?? 'error'}: ${(err.message ?? String(e)).slice(0, 300)}`);
}

export class S3Source implements DatasetSource {
  private readonly client: S3Client;
  private readonly prefix: string;

  constructor(private readonly loc: S3Location) {
    this.client = s3Client(loc);
    this.prefix = loc.prefix === '' || loc.prefix.endsWith('/') ? loc.prefix : `${loc.prefix}/`;
  }

  /** Closes the client's kept-alive connections: every scan and fill opens its own source. */
  close(): void {
    this.client.destroy();
  }

  async list(): Promise<ListedFile[]> {
    const out: ListedFile[] = [];
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.prefix, ...(token ? { ContinuationToken: token } : {}) }));
      } catch (e) {
        throw s3Error(e, `listing s3://${this.loc.bucket}/${this.prefix}`);
      }
      for (const o of r.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        const path = o.Key.slice(this.prefix.length);
        checkDatasetPath(path);
        out.push({ path, size: o.Size ?? 0, ...(o.ETag ? { etag: o.ETag } : {}) });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  private async get(file: DatasetFile | ListedFile, range?: [number, number]): Promise<Readable> {
    const key = this.prefix + file.path;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.loc.bucket, Key: key, ...(file.etag ? { IfMatch: file.etag } : {}), ...(range ? { Range: `bytes=${range[0]}-${range[1]}` } : {}) }));
      return r.Body as Readable;
    } catch (e) {
      throw s3Error(e, `s3://${this.loc.bucket}/${key}`);
    }
  }

  async *read(file: ListedFile): AsyncIterable<Buffer> {
    for await (const c of await this.get(file)) yield c as Buffer;
  }

  async fetch(file: DatasetFile | ListedFile, dest: string, onBytes: (n: number) => void, kind: ChecksumKind = 'sha256'): Promise<string> {
    const hash = newChecksum(kind);
    let written = 0;
    if (file.size <= RANGE_BYTES) {
      // Streamed: the hash taps the bytes on their way to the file (no awaited write per chunk).
      const tap = new Transform({
        transform(c: Buffer, _enc, cb) {
          hash.update(c);
          written += c.length;
          onBytes(c.length);
          cb(null, c);
        },
      });
      await pipeline(await this.get(file), tap, createWriteStream(dest, { mode: 0o600, highWaterMark: 1 << 20 }));
    } else {
      const out = await fsp.open(dest, 'w', 0o600);
      try {
        // Ranges are fetched a few at a time and consumed in order, so the hash sees the
        // bytes in file order while the next ranges are already on the wire.
        const ranges: [number, number][] = [];
        for (let a = 0; a < file.size; a += RANGE_BYTES) ranges.push([a, Math.min(file.size, a + RANGE_BYTES) - 1]);
        const read = async (r: [number, number]): Promise<Buffer> => {
          const chunks: Buffer[] = [];
          for await (const c of await this.get(file, r)) chunks.push(c as Buffer);
          return Buffer.concat(chunks);
        };
        const inflight: Promise<Buffer>[] = [];
        let next = 0;
        const top = (): void => {
          while (inflight.length < RANGES_IN_FLIGHT && next < ranges.length) {
            const p = read(ranges[next++] as [number, number]);
            p.catch(() => undefined); // awaited in order below; this only keeps it from being "unhandled" meanwhile
            inflight.push(p);
          }
        };
        top();
        while (inflight.length > 0) {
          const buf = await (inflight.shift() as Promise<Buffer>);
          top();
          hash.update(buf);
          await out.write(buf, 0, buf.length, written);
          written += buf.length;
          onBytes(buf.length);
        }
      } finally {
        await out.close();
      }
    }
    if (written !== file.size) throw sourceChanged(`${file.path} is ${written} bytes, the version recorded ${file.size}`);
    return hash.digest();
  }
}
