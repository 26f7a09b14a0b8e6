/** The scheduler's log gathers the lines of one turn of the event loop into one write. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { batchedLineLog } from '../../src/adapters/k8s/line-log.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('k8s scheduler line log', () => {
  it('writes the lines logged in one turn once, in order, each timestamped', async () => {
    const writes: string[] = [];
    const log = batchedLineLog((t) => writes.push(t), () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5)));
    log('bound a');
    log('bound b');
    assert.deepEqual(writes, []);
    await turn();
    assert.deepEqual(writes, ['2026-01-02T03:04:05.000Z bound a\n2026-01-02T03:04:05.000Z bound b\n']);
    log('bound c');
    await turn();
    assert.equal(writes.length, 2);
    assert.equal(writes[1], '2026-01-02T03:04:05.000Z bound c\n');
  });
});
