/** The checksums a fill computes while copying (dataset-source.ts says which one a file uses). */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { Checksum, ChecksumKind } from './dataset-source.js';

export function newChecksum(kind: ChecksumKind): Checksum {
  if (kind === 'sha256') {
    const h = createHash('sha256');
    return { update: (b) => void h.update(b), digest: () => h.digest('hex') };
  }
  let c = 0;
  return { update: (b) => void (c = crc32(b, c)), digest: () => c.toString(16).padStart(8, '0') };
}
