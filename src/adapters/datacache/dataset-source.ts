/**
 * The port every dataset source implements (a local or mounted folder, an S3-compatible
 * bucket): list what a version holds, and copy one file into the cache while hashing it.
 * Sources never write into the cache themselves beyond the one `.part` file they are given;
 * node-cache.ts decides what is verified, kept or thrown away.
 */
import { UserError } from '../../core/errors.js';

export type SourceSpec =
  | { readonly type: 'local'; readonly path: string }
  | { readonly type: 's3'; readonly bucket: string; readonly prefix: string; readonly endpoint?: string; readonly region?: string };

/**
 * One file of a dataset version: its path inside the dataset, bytes, SHA-256 (its identity,
 * for provenance and `verify`), CRC-32 (checked on every fill: 4x cheaper to compute, and the
 * integrity check S3 itself uses), and the source's own tag (S3 ETag).
 */
export interface DatasetFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  /** 8 hex digits; absent in versions recorded before fills checked CRC-32 (SHA-256 then). */
  readonly crc32?: string;
  readonly etag?: string;
}

/** What a fill checks a copy against: CRC-32 when the version has it, else SHA-256. */
export type ChecksumKind = 'crc32' | 'sha256';

export function fillChecksum(f: DatasetFile | ListedFile): { kind: ChecksumKind; want: string | null } {
  if ('crc32' in f && f.crc32 !== undefined) return { kind: 'crc32', want: f.crc32 };
  return { kind: 'sha256', want: 'sha256' in f ? f.sha256 : null };
}

/** A running checksum of either kind. */
export interface Checksum {
  update(b: Buffer): void;
  digest(): string;
}

export interface ListedFile {
  readonly path: string;
  readonly size: number;
  readonly etag?: string;
}

export interface DatasetSource {
  /** Every file under the source, sorted by path. */
  list(): Promise<ListedFile[]>;
  /**
   * Copies one file to `dest` (created or truncated), calling `onBytes` as bytes land, and
   * returns the checksum (`kind`) of what was written. Throws DATASET_SOURCE_CHANGED when the
   * source no longer holds the file the version recorded (size or tag differ). The copy is not
   * synced: the cache records verified files unsynced and its background sync makes them durable.
   */
  fetch(file: DatasetFile | ListedFile, dest: string, onBytes: (n: number) => void, kind?: ChecksumKind): Promise<string>;
  /** The file's bytes, in order (to hash a new version's files). */
  read(file: ListedFile): AsyncIterable<Buffer>;
  /** Frees what the source holds open (an S3 client's kept-alive connections); called once it is no longer used. */
  close?(): void;
}

/** A path inside a dataset: relative, "/"-separated, no "." or ".." part, no NUL. */
export function checkDatasetPath(p: string): void {
  const bad = p === '' || p.startsWith('/') || p.includes('\0') || p.includes('\\') || p.split('/').some((s) => s === '' || s === '.' || s === '..');
  if (bad) throw new UserError('DATASET_SOURCE_INVALID', `the source holds a file named "${p.slice(0, 200)}", which cannot be a path inside the cache`);
}

export function sourceChanged(what: string): UserError {
  return new UserError('DATASET_SOURCE_CHANGED', `${what}: the source changed since the version was recorded (versions are immutable: add a new version with gantry datasets add)`);
}

export function describeSource(s: SourceSpec): string {
  return s.type === 'local' ? s.path : `s3://${s.bucket}/${s.prefix}${s.endpoint ? ` at ${s.endpoint}` : ''}`;
}
