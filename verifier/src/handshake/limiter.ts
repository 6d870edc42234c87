import type { Redis } from 'ioredis';

/**
 * Rate limits and lockout for the handshake (stop guessing). Two kinds of key: `device:<id>` and
 * `source:<address>`, each with its own attempt budget per window; consecutive failures of a key past `threshold`
 * lock it for base·2^(failures − threshold), capped at `maxMs` (exponential backoff). A success clears the device key's
 * failures (not the source's: one good device must not launder guesses against others from the same address).
 */
export interface HandshakeLimits {
  /** Per device: attempts per window, and consecutive failures before the lockout starts. */
  device: { attempts: number; windowMs: number; lockoutThreshold: number };
  /** Per source address (a gateway or NAT fronts many devices, so the budgets are larger). */
  source: { attempts: number; windowMs: number; lockoutThreshold: number };
  lockout: { baseMs: number; maxMs: number };
}

export const DEFAULT_HANDSHAKE_LIMITS: HandshakeLimits = {
  device: { attempts: 30, windowMs: 60_000, lockoutThreshold: 5 },
  source: { attempts: 60_000, windowMs: 60_000, lockoutThreshold: 200 },
  lockout: { baseMs: 1_000, maxMs: 15 * 60_000 },
};

export interface HandshakeLimiter {
  /** Count one attempt for each key; returns 0 when admitted, else how long to wait (ms). */
  admit(keys: readonly string[]): Promise<number>;
  /** Record a failure for each key; returns the lockout now in force (ms, 0 = none). */
  fail(keys: readonly string[]): Promise<number>;
  /** Clear the failure count of these keys. */
  succeed(keys: readonly string[]): Promise<void>;
}

const kindOf = (key: string): 'device' | 'source' => (key.startsWith('source:') ? 'source' : 'device');

export function lockoutMs(failures: number, limits: HandshakeLimits, kind: 'device' | 'source' = 'device'): number {
  const threshold = limits[kind].lockoutThreshold;
  const { baseMs, maxMs } = limits.lockout;
  if (failures < threshold) return 0;
  return Math.min(maxMs, baseMs * 2 ** Math.min(failures - threshold, 30));
}

/** In-process limiter (the embedded default). `now` is injectable for fake clocks. */
export class MemoryHandshakeLimiter implements HandshakeLimiter {
  private readonly entries = new Map<
    string,
    { windowStart: number; count: number; failures: number; lockedUntil: number }
  >();
  private readonly limits: HandshakeLimits;
  private readonly now: () => number;

  constructor(options: { limits?: Partial<HandshakeLimits>; now?: () => number; maxEntries?: number } = {}) {
    this.limits = { ...DEFAULT_HANDSHAKE_LIMITS, ...options.limits };
    this.now = options.now ?? Date.now;
  }

  private entry(key: string) {
    let e = this.entries.get(key);
    if (!e) {
      if (this.entries.size > 100_000) this.sweep();
      e = { windowStart: this.now(), count: 0, failures: 0, lockedUntil: 0 };
      this.entries.set(key, e);
    }
    return e;
  }

  private sweep() {
    const now = this.now();
    for (const [k, e] of this.entries) if (e.failures === 0 && e.lockedUntil <= now) this.entries.delete(k);
  }

  async admit(keys: readonly string[]): Promise<number> {
    const now = this.now();
    let wait = 0;
    for (const key of keys) {
      const e = this.entry(key);
      const l = this.limits[kindOf(key)];
      if (now - e.windowStart >= l.windowMs) {
        e.windowStart = now;
        e.count = 0;
      }
      e.count++;
      if (e.lockedUntil > now) wait = Math.max(wait, e.lockedUntil - now);
      if (e.count > l.attempts) wait = Math.max(wait, e.windowStart + l.windowMs - now);
    }
    return wait;
  }

  async fail(keys: readonly string[]): Promise<number> {
    const now = this.now();
    let locked = 0;
    for (const key of keys) {
      const e = this.entry(key);
      e.failures++;
      const ms = lockoutMs(e.failures, this.limits, kindOf(key));
      if (ms > 0) {
        e.lockedUntil = now + ms;
        locked = Math.max(locked, ms);
      }
    }
    return locked;
  }

  async succeed(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      const e = this.entries.get(key);
      if (e) {
        e.failures = 0;
        e.lockedUntil = 0;
      }
    }
  }
}

/**
 * The same limits shared by verifier replicas through Redis: INCR + PEXPIRE for attempt windows and failure counts,
 * a lock key with PX for the lockout (Redis's clock decides expiry, so replicas need no synchronised clocks).
 */
export class RedisHandshakeLimiter implements HandshakeLimiter {
  private readonly limits: HandshakeLimits;
  private readonly prefix: string;

  constructor(
    private readonly redis: Redis,
    options: { limits?: Partial<HandshakeLimits>; prefix?: string } = {},
  ) {
    this.limits = { ...DEFAULT_HANDSHAKE_LIMITS, ...options.limits };
    this.prefix = options.prefix ?? 'tessera:hs-limit:';
  }

  async admit(keys: readonly string[]): Promise<number> {
    let wait = 0;
    for (const key of keys) {
      const l = this.limits[kindOf(key)];
      const [[, count], [, ttl], [, lockTtl]] = (await this.redis
        .multi()
        .incr(`${this.prefix}n:${key}`)
        .pttl(`${this.prefix}n:${key}`)
        .pttl(`${this.prefix}lock:${key}`)
        .exec()) as [[null, number], [null, number], [null, number]];
      if (ttl < 0) await this.redis.pexpire(`${this.prefix}n:${key}`, l.windowMs);
      if (lockTtl > 0) wait = Math.max(wait, lockTtl);
      if (count > l.attempts) wait = Math.max(wait, ttl > 0 ? ttl : l.windowMs);
    }
    return wait;
  }

  async fail(keys: readonly string[]): Promise<number> {
    let locked = 0;
    for (const key of keys) {
      const failures = await this.redis.incr(`${this.prefix}f:${key}`);
      await this.redis.pexpire(`${this.prefix}f:${key}`, this.limits.lockout.maxMs * 2);
      const ms = lockoutMs(failures, this.limits, kindOf(key));
      if (ms > 0) {
        await this.redis.set(`${this.prefix}lock:${key}`, '1', 'PX', ms);
        locked = Math.max(locked, ms);
      }
    }
    return locked;
  }

  async succeed(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.redis.del(...keys.flatMap((k) => [`${this.prefix}f:${k}`, `${this.prefix}lock:${k}`]));
  }
}
