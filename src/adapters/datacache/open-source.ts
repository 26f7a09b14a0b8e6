/** The adapter for a source spec. */
import type { DatasetSource, SourceSpec } from './dataset-source.js';
import { LocalSource } from './local-source.js';
import { S3Source } from './s3-source.js';

export function openSource(s: SourceSpec): DatasetSource {
  return s.type === 'local' ? new LocalSource(s.path) : new S3Source(s);
}
