/**
 * A new version's file list: every file the source holds, with its size, SHA-256 and CRC-32, hashed a
 * few files at a time. This reads the whole dataset once (it is what makes later fills
 * verifiable and runs traceable).
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { UserError } from '../../core/errors.js';
import type { DatasetFile, DatasetSource } from './dataset-source.js';

export const MAX_FILES = 1_000_000;

export async function scanSource(source: DatasetSource, streams = 4): Promise<DatasetFile[]> {
  const listed = await source.list();
  if (listed.length === 0) throw new UserError('DATASET_SOURCE_EMPTY', 'the source holds no files');
  if (listed.length > MAX_FILES) throw new UserError('DATASET_SOURCE_INVALID', `the source holds ${listed.length} files; at most ${MAX_FILES} per dataset (pack small files into shards)`);
  const out: DatasetFile[] = new Array<DatasetFile>(listed.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < listed.length) {
      const i = next++;
      const f = listed[i] as (typeof listed)[number];
      const h = createHash('sha256');
      let crc = 0;
      let n = 0;
      for await (const c of source.read(f)) {
        h.update(c);
        crc = crc32(c, crc);
        n += c.length;
      }
      if (n !== f.size) throw new UserError('DATASET_SOURCE_CHANGED', `${f.path} changed while it was read (${n} bytes, listed as ${f.size}); add the version again once the source is still`);
      out[i] = { path: f.path, size: f.size, sha256: h.digest('hex'), crc32: crc.toString(16).padStart(8, '0'), ...(f.etag ? { etag: f.etag } : {}) };
    }
  };
  await Promise.all(Array.from({ length: Math.min(streams, listed.length) }, worker));
  return out;
}
