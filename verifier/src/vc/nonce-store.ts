import { TesseraError } from '@tessera/protocol';
import { randomBase64url } from '@tessera/runtime';
import type { Redis } from 'ioredis';

/**
 * Presentation nonces: issued by this verifier, short-lived, usable once (the wallet flow). A store shared by
 * replicas (Redis) makes the single use hold across all of them.
 */
export interface NonceStore {
  /**
   * Remember `nonce` for `ttlMs`, bound to `context` (the audience it was issued for).
   * Returns false when the nonce already exists (it is never overwritten).
   */
  put(nonce: string, context: string, ttlMs: number): Promise<boolean>;
  /**
   * Atomically take `nonce`: the first call returns its context, every later call (on any replica) and any call for an
   * unknown or expired nonce returns undefined.
   */
  consume(nonce: string): Promise<string | undefined>;
}

/** 128 random bits, base64url: unguessable, and short enough for a QR code. */
export function newNonce(): string {
  return randomBase64url(16);
}

/** Live entries a MemoryNonceStore holds at most by default (a few hundred bytes each). */
export const MEMORY_NONCE_STORE_MAX_ENTRIES = 100_000;

/**
 * Single-process nonce store (the embedded default). `now` is injectable so tests use a fake clock. It holds at most
 * `maxEntries` live entries: beyond that `put` fails with ERR_CAPACITY (503 at an HTTP boundary) for everyone until
 * entries are used or expire; what one source may hold is capped in front of it (`RequestBudget`).
 */
export class MemoryNonceStore implements NonceStore {
  private readonly entries = new Map<string, { context: string; expiresAt: number }>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(options: { now?: () => number; maxEntries?: number } = {}) {
    this.now = options.now ?? Date.now;
    this.maxEntries = options.maxEntries ?? MEMORY_NONCE_STORE_MAX_ENTRIES;
  }

  async put(nonce: string, context: string, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const existing = this.entries.get(nonce);
    if (existing && existing.expiresAt > now) return false;
    if (this.entries.size >= this.maxEntries) this.sweep(now);
    if (this.entries.size >= this.maxEntries)
      throw new TesseraError('ERR_CAPACITY', `${this.maxEntries} nonces are outstanding; retry when some expire`, {
        details: { retryAfterS: Math.max(1, Math.ceil((this.soonestExpiry() - now) / 1000)) },
      });
    this.entries.set(nonce, { context, expiresAt: now + ttlMs });
    return true;
  }

  /** When the first live entry expires (entries are kept in insertion order; TTLs are nearly uniform). */
  private soonestExpiry(): number {
    for (const e of this.entries.values()) return e.expiresAt;
    return this.now();
  }

  async consume(nonce: string): Promise<string | undefined> {
    const entry = this.entries.get(nonce);
    if (!entry) return undefined;
    this.entries.delete(nonce); // synchronous get-and-delete: nothing can run in between
    return entry.expiresAt > this.now() ? entry.context : undefined;
  }

  /** Number of live entries (expired ones are dropped first). */
  size(): number {
    this.sweep(this.now());
    return this.entries.size;
  }

  private sweep(now: number): void {
    for (const [k, v] of this.entries) if (v.expiresAt <= now) this.entries.delete(k);
  }
}

/**
 * Nonce store shared by verifier replicas through Redis. `put` is `SET key ctx PX ttl NX` (never overwrites); `consume`
 * is `GETDEL` (Redis ≥ 6.2), one atomic command, so of two replicas racing for the same nonce exactly one wins.
 * Expiry is Redis's own (PX), so replicas need no synchronised clocks.
 */
export class RedisNonceStore implements NonceStore {
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(redis: Redis, options: { prefix?: string } = {}) {
    this.redis = redis;
    this.prefix = options.prefix ?? 'tessera:vp-nonce:';
  }

  async put(nonce: string, context: string, ttlMs: number): Promise<boolean> {
    const r = await this.redis.set(this.prefix + nonce, context, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
    return r === 'OK';
  }

  async consume(nonce: string): Promise<string | undefined> {
    const v = await this.redis.getdel(this.prefix + nonce);
    return v ?? undefined;
  }
}

/**
 * Access tokens signed out before they expire. Tokens are stateless, so a sign-out is remembered until the token's own
 * expiry; a store shared by replicas (Redis) makes it hold on every one of them.
 */
export interface TokenDenylist {
  add(tokenId: string, ttlMs: number): Promise<void>;
  has(tokenId: string): Promise<boolean>;
}

/** Single-process denylist (the embedded default); entries leave when the token would have expired anyway. */
export class MemoryTokenDenylist implements TokenDenylist {
  private readonly entries = new Map<string, number>();
  constructor(private readonly now: () => number = Date.now) {}

  async add(tokenId: string, ttlMs: number): Promise<void> {
    const now = this.now();
    if (this.entries.size > 100_000) for (const [k, t] of this.entries) if (t <= now) this.entries.delete(k);
    this.entries.set(tokenId, now + ttlMs);
  }

  async has(tokenId: string): Promise<boolean> {
    const t = this.entries.get(tokenId);
    return t !== undefined && t > this.now();
  }

  /** Nothing to ask when nothing was signed out (the common case on the guard's path). */
  get size(): number {
    return this.entries.size;
  }
}

/** Denylist shared by replicas: `SET key 1 PX ttl`, `EXISTS key`. */
export class RedisTokenDenylist implements TokenDenylist {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'tessera:token-out:',
  ) {}

  async add(tokenId: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.prefix + tokenId, '1', 'PX', Math.max(1, Math.ceil(ttlMs)));
  }

  async has(tokenId: string): Promise<boolean> {
    return (await this.redis.exists(this.prefix + tokenId)) === 1;
  }
}
