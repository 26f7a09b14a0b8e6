/** The SQLite store passes the conformance suite, on a file and in memory, and its audit log refuses changes. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/adapters/store/sqlite-store.js';
import { storeConformance } from './store-conformance.js';

storeConformance('sqlite file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-store-'));
  const store = new SqliteStore(join(dir, 'gantry.db'));
  return { store, cleanup: () => { store.close(); rmSync(dir, { recursive: true, force: true }); } };
});

storeConformance('sqlite memory', () => {
  const store = new SqliteStore(':memory:');
  return { store, cleanup: () => store.close() };
});

it('sqlite: WAL, synchronous FULL, migrations recorded, audit rows cannot be changed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gantry-store-'));
  try {
    const file = join(dir, 'gantry.db');
    const store = new SqliteStore(file);
    store.appendAudit({ at: 1, actor: 'a', action: 'x', target: 't', source: 's', detail: null });
    store.close();
    const db = new Database(file);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.ok(Number(db.pragma('user_version', { simple: true })) >= 1);
    assert.throws(() => db.prepare('UPDATE audit SET actor = ?').run('mallory'), /append-only/);
    assert.throws(() => db.prepare('DELETE FROM audit').run(), /append-only/);
    db.close();
    const again = new SqliteStore(file); // reopening re-runs no migration
    assert.equal(again.listAudit(0, 10).length, 1);
    again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
