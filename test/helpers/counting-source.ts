/** A dataset source that records the files fetched and fails after `failAfter` of them (an interrupted fill). */
import type { ChecksumKind, DatasetFile, DatasetSource, ListedFile } from '../../src/adapters/datacache/dataset-source.js';

export class CountingSource implements DatasetSource {
  fetched: string[] = [];
  constructor(
    private readonly inner: DatasetSource,
    private readonly failAfter = Infinity,
  ) {}
  list(): Promise<ListedFile[]> {
    return this.inner.list();
  }
  read(f: ListedFile): AsyncIterable<Buffer> {
    return this.inner.read(f);
  }
  async fetch(f: DatasetFile | ListedFile, dest: string, onBytes: (n: number) => void, kind?: ChecksumKind): Promise<string> {
    if (this.fetched.length >= this.failAfter) throw new Error('connection reset (simulated)');
    this.fetched.push(f.path);
    return this.inner.fetch(f, dest, onBytes, kind);
  }
}
