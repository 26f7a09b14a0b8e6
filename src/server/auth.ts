/**
 * API tokens: random, shown once, stored only as a SHA-256 hash. A token names a user; a user
 * belongs to one team; admins see and change everything. Tokens are never logged. A token
 * may expire and may be revoked; either makes it UNAUTHENTICATED with a message saying which.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store, TokenRow, UserRow } from '../adapters/store/store.js';

export function newToken(): string {
  return `gty_${randomBytes(24).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Creates a user (and its team when missing) and returns the user's first token and its id. */
export function createUserWithToken(store: Store, name: string, team: string, admin: boolean, now: number, expiresAt: number | null = null): string {
  return createUserWithTokenId(store, name, team, admin, now, expiresAt).token;
}

export function createUserWithTokenId(store: Store, name: string, team: string, admin: boolean, now: number, expiresAt: number | null = null): { token: string; id: string } {
  const token = newToken();
  let id = '';
  store.transaction(() => {
    if (!store.getTeam(team)) store.createTeam(team, now);
    store.createUser({ name, team, admin, createdAt: now });
    id = store.addToken(hashToken(token), name, now, expiresAt);
  });
  return { token, id };
}

/** Issues one more token for an existing user (call inside the caller's transaction). */
export function issueToken(store: Store, user: string, now: number, expiresAt: number | null): { token: string; id: string } {
  const token = newToken();
  return { token, id: store.addToken(hashToken(token), user, now, expiresAt) };
}

/** "30d", "12h", "90m", "3600s": a duration in milliseconds, or null when it is none of these. */
export function parseDuration(s: string): number | null {
  const m = /^([1-9][0-9]{0,5})([smhd])$/.exec(s);
  if (!m) return null;
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

export type Resolved = { ok: true; user: UserRow; token: TokenRow } | { ok: false; why: 'missing' | 'unknown' | 'expired' | 'revoked'; at?: number };

/** Resolves a bearer token, with a small cache of token records (revocation clears it). */
export class TokenResolver {
  private readonly cache = new Map<string, { user: UserRow; token: TokenRow }>();
  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
  ) {}

  resolve(header: string | undefined): Resolved {
    if (!header) return { ok: false, why: 'missing' };
    const m = /^Bearer\s+(\S{8,200})$/i.exec(header);
    if (!m) return { ok: false, why: 'unknown' };
    const hash = hashToken(m[1] as string);
    let hit = this.cache.get(hash);
    if (!hit) {
      hit = this.store.tokenByHash(hash);
      if (!hit) return { ok: false, why: 'unknown' };
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, hit);
    }
    if (hit.token.revokedAt !== null) return { ok: false, why: 'revoked', at: hit.token.revokedAt };
    if (hit.token.expiresAt !== null && hit.token.expiresAt <= this.clock()) return { ok: false, why: 'expired', at: hit.token.expiresAt };
    return { ok: true, user: hit.user, token: hit.token };
  }

  /** After a revocation: the next request reads the token's record again. */
  forget(): void {
    this.cache.clear();
  }
}
