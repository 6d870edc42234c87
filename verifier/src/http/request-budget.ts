import type { ErrorCode } from '@tessera/protocol';

/**
 * What one source address may ask of an unauthenticated endpoint that stores something per request (a presentation
 * request stores a nonce until it expires): a rate, a cap on what it holds at once, and a cap on how many sources
 * are tracked. Beyond the store's own capacity every source is refused alike (ERR_CAPACITY, by the store).
 */
export interface RequestBudgetLimits {
  /** Requests one source address may make per window. */
  perSourcePerWindow: number;
  windowMs: number;
  /** What one source may hold at once: requests made within the last `holdMs` (a nonce's lifetime). */
  heldPerSource: number;
  /** Source addresses tracked at once; a new one beyond it is refused with ERR_CAPACITY until older ones age out. */
  maxSources: number;
}

/**
 * Defaults for `POST /presentation-requests`: a wallet asks once per access, so 120 a minute per address is generous
 * for people behind one NAT; 300 nonces held per address (of a 5-minute lifetime).
 */
export const DEFAULT_PRESENTATION_REQUEST_LIMITS: RequestBudgetLimits = {
  perSourcePerWindow: 120,
  windowMs: 60_000,
  heldPerSource: 300,
  maxSources: 50_000,
};

export interface BudgetRefusal {
  code: Extract<ErrorCode, 'ERR_RATE_LIMITED' | 'ERR_CAPACITY'>;
  message: string;
  /** Whole seconds until a retry can succeed (Retry-After). */
  retryAfterS: number;
}

/** Per-source budget, in process (each replica counts its own). `now` is injectable for fake clocks. */
export class RequestBudget {
  private windowStart = Number.NEGATIVE_INFINITY;
  private counts = new Map<string, number>();
  /** Per source, when each of its held requests lapses (ascending). */
  private readonly held = new Map<string, number[]>();

  constructor(
    private readonly limits: RequestBudgetLimits,
    /** How long one request holds its slot (the nonce lifetime). */
    private readonly holdMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Count one request of `source`: undefined when admitted, else why not and when to retry. */
  take(source: string): BudgetRefusal | undefined {
    const now = this.now();
    const l = this.limits;
    if (now - this.windowStart >= l.windowMs || now < this.windowStart) {
      this.windowStart = now;
      this.counts = new Map();
    }
    const count = this.counts.get(source) ?? 0;
    if (count >= l.perSourcePerWindow)
      return {
        code: 'ERR_RATE_LIMITED',
        message: `more than ${l.perSourcePerWindow} requests in ${l.windowMs / 1000} s from this address; retry later`,
        retryAfterS: Math.max(1, Math.ceil((this.windowStart + l.windowMs - now) / 1000)),
      };
    let mine = this.held.get(source);
    if (mine) {
      let lapsed = 0;
      while (lapsed < mine.length && mine[lapsed]! <= now) lapsed++;
      if (lapsed > 0) mine.splice(0, lapsed);
    } else {
      if (this.held.size >= l.maxSources) this.sweep(now);
      if (this.held.size >= l.maxSources)
        return {
          code: 'ERR_CAPACITY',
          message: `requests from ${l.maxSources} addresses are outstanding; retry later`,
          retryAfterS: Math.max(1, Math.ceil(this.holdMs / 1000)),
        };
      mine = [];
      this.held.set(source, mine);
    }
    if (mine.length >= l.heldPerSource)
      return {
        code: 'ERR_RATE_LIMITED',
        message: `this address holds ${l.heldPerSource} unexpired requests; use them or let them expire`,
        retryAfterS: Math.max(1, Math.ceil((mine[0]! - now) / 1000)),
      };
    this.counts.set(source, count + 1);
    mine.push(now + this.holdMs);
    return undefined;
  }

  /** Number of source addresses tracked (tests, metrics). */
  get sources(): number {
    return this.held.size;
  }

  private sweep(now: number): void {
    for (const [source, times] of this.held) if ((times[times.length - 1] ?? 0) <= now) this.held.delete(source);
  }
}
