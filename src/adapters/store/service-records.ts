/**
 * Services and their autoscaler decisions in the server's SQLite file (tables created by the
 * store's migrations). A service row holds the spec as applied; its replicas are ordinary jobs
 * (`NAME-rN`) in the jobs table. Decisions are kept per service, the newest `DECISIONS_KEPT`.
 */
import type Database from 'better-sqlite3';

/** The migration step (see sqlite-store.ts MIGRATIONS); idempotent, so renumbering on merge is safe. */
export const SERVICE_MIGRATION = `
  CREATE TABLE IF NOT EXISTS services (name TEXT PRIMARY KEY, team TEXT NOT NULL, owner TEXT NOT NULL, spec TEXT NOT NULL,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_replica INTEGER NOT NULL DEFAULT 1);
  CREATE TABLE IF NOT EXISTS service_decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, service TEXT NOT NULL, at INTEGER NOT NULL,
    current INTEGER NOT NULL, desired INTEGER NOT NULL, panic INTEGER NOT NULL, reason TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS service_decisions_by_service ON service_decisions(service, id);`;

/** A later step: each service's newest rollout (service-rollout.ts storedRollout), so it survives a restart. */
export const SERVICE_ROLLOUT_MIGRATION = `
  CREATE TABLE IF NOT EXISTS service_rollouts (service TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at INTEGER NOT NULL);`;

export const DECISIONS_KEPT = 500;

export interface ServiceRecord {
  readonly name: string;
  readonly team: string;
  readonly owner: string;
  /** The spec as applied (a ServiceFile with defaults filled in). */
  readonly spec: unknown;
  readonly createdAt: number;
  readonly updatedAt: number;
  /** The index the next replica job gets (NAME-rN): never reused. */
  readonly nextReplica: number;
}

export interface ScaleDecisionRecord {
  readonly at: number;
  readonly current: number;
  readonly desired: number;
  readonly panic: boolean;
  readonly reason: string;
}

interface ServiceDbRow {
  name: string;
  team: string;
  owner: string;
  spec: string;
  created_at: number;
  updated_at: number;
  next_replica: number;
}

function toRecord(r: ServiceDbRow): ServiceRecord {
  return { name: r.name, team: r.team, owner: r.owner, spec: JSON.parse(r.spec) as unknown, createdAt: r.created_at, updatedAt: r.updated_at, nextReplica: r.next_replica };
}

export class ServiceRecords {
  constructor(private readonly db: Database.Database) {}

  list(): ServiceRecord[] {
    return (this.db.prepare('SELECT * FROM services ORDER BY name').all() as ServiceDbRow[]).map(toRecord);
  }

  get(name: string): ServiceRecord | undefined {
    const r = this.db.prepare('SELECT * FROM services WHERE name = ?').get(name) as ServiceDbRow | undefined;
    return r && toRecord(r);
  }

  /** Creates or replaces the spec (keeping creation time and replica numbering). */
  put(name: string, team: string, owner: string, spec: unknown, at: number): void {
    this.db
      .prepare(`INSERT INTO services (name, team, owner, spec, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, spec = excluded.spec, updated_at = excluded.updated_at`)
      .run(name, team, owner, JSON.stringify(spec), at, at);
  }

  /** Takes the next replica index of a service. */
  takeReplicaIndex(name: string): number {
    return this.db.prepare('UPDATE services SET next_replica = next_replica + 1 WHERE name = ? RETURNING next_replica - 1').pluck().get(name) as number;
  }

  remove(name: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM services WHERE name = ?').run(name);
      this.db.prepare('DELETE FROM service_decisions WHERE service = ?').run(name);
      this.db.prepare('DELETE FROM service_rollouts WHERE service = ?').run(name);
    })();
  }

  /** Stores a service's newest rollout (replacing the one before). */
  putRollout(service: string, state: unknown, at: number): void {
    this.db.prepare('INSERT INTO service_rollouts (service, state, updated_at) VALUES (?, ?, ?) ON CONFLICT (service) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at').run(service, JSON.stringify(state), at);
  }

  /** The newest rollout stored for a service, as `putRollout` was given it. */
  rollout(service: string): unknown {
    const r = this.db.prepare('SELECT state FROM service_rollouts WHERE service = ?').pluck().get(service) as string | undefined;
    return r === undefined ? undefined : (JSON.parse(r) as unknown);
  }

  addDecision(service: string, d: ScaleDecisionRecord): void {
    this.db.prepare('INSERT INTO service_decisions (service, at, current, desired, panic, reason) VALUES (?, ?, ?, ?, ?, ?)').run(service, d.at, d.current, d.desired, d.panic ? 1 : 0, d.reason);
    this.db.prepare('DELETE FROM service_decisions WHERE service = ? AND id <= (SELECT id FROM service_decisions WHERE service = ? ORDER BY id DESC LIMIT 1 OFFSET ?)').run(service, service, DECISIONS_KEPT);
  }

  /** The newest `limit` decisions, newest first. */
  decisions(service: string, limit: number): ScaleDecisionRecord[] {
    const rows = this.db.prepare('SELECT at, current, desired, panic, reason FROM service_decisions WHERE service = ? ORDER BY id DESC LIMIT ?').all(service, limit) as { at: number; current: number; desired: number; panic: number; reason: string }[];
    return rows.map((r) => ({ at: r.at, current: r.current, desired: r.desired, panic: r.panic === 1, reason: r.reason }));
  }
}
