/**
 * The checksums a fill computes while copying (dataset-source.ts says which one a file uses).
 * CRC-32 is the fills' hot path: @node-rs/crc32 computes it with carry-less multiplication
 * (PCLMULQDQ / ARMv8 CRC), 3-4x faster than zlib's table-driven crc32 on the same bytes
 * (docs/benchmarks.md, "Dataset fill speed"). The two give the same value; where the native
 * package does not load (a platform it has no build for), zlib's is used.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { crc32 as zlibCrc32 } from 'node:zlib';
import type { Checksum, ChecksumKind } from './dataset-source.js';

type Crc32 = (data: Buffer, initial: number) => number;

function loadCrc32(): { crc32: Crc32; impl: 'simd' | 'zlib' } {
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32: Crc32 };
    if (native.crc32(Buffer.from('123456789'), 0) === 0xcbf43926) return { crc32: native.crc32, impl: 'simd' };
  } catch {
    // No build for this platform: zlib's below.
  }
  return { crc32: zlibCrc32, impl: 'zlib' };
}

const CRC32 = loadCrc32();

/** Which CRC-32 implementation this process uses (for benchmarks and logs). */
export const crc32Implementation: 'simd' | 'zlib' = CRC32.impl;

export function newChecksum(kind: ChecksumKind): Checksum {
  if (kind === 'sha256') {
    const h = createHash('sha256');
    return { update: (b) => void h.update(b), digest: () => h.digest('hex') };
  }
  const crc32 = CRC32.crc32;
  let c = 0;
  return { update: (b) => void (c = crc32(b, c)), digest: () => (c >>> 0).toString(16).padStart(8, '0') };
}
