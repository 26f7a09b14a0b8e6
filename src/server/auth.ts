/**
 * API tokens: random, shown once, stored only as a SHA-256 hash. A token names a user; a user
 * belongs to one team; admins see and change everything. Tokens are never logged.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Store, UserRow } from '../adapters/store/store.js';

export function newToken(): string {
  return `gty_${randomBytes(24).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Creates a user (and its team when missing) and returns the user's first token. */
export function createUserWithToken(store: Store, name: string, team: string, admin: boolean, now: number): string {
  const token = newToken();
  store.transaction(() => {
    if (!store.getTeam(team)) store.createTeam(team, now);
    store.createUser({ name, team, admin, createdAt: now });
    store.addToken(hashToken(token), name, now);
  });
  return token;
}

/** Resolves a bearer token, with a small cache (tokens are never revoked in this version). */
export class TokenResolver {
  private readonly cache = new Map<string, UserRow>();
  constructor(private readonly store: Store) {}

  resolve(header: string | undefined): UserRow | undefined {
    if (!header) return undefined;
    const m = /^Bearer\s+(\S{8,200})$/i.exec(header);
    if (!m) return undefined;
    const hash = hashToken(m[1] as string);
    const hit = this.cache.get(hash);
    if (hit) return hit;
    const user = this.store.userByTokenHash(hash);
    if (user) {
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(hash, user);
    }
    return user;
  }
}
