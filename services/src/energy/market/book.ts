import { err, ok, type Result } from '@tessera/protocol';
import { allocationHash, type Clearing, clear, orderBookHash, type PricingRule } from './clearing.js';
import { type Order, parseOrder } from './order.js';
import { MAX_ORDERS_PER_PARTICIPANT, type Tariffs } from './units.js';

/** What a closed period leaves behind: the clearing and the two digests settlement records on chain. */
export interface ClosedPeriod {
  periodId: number;
  orders: readonly Order[];
  clearing: Clearing;
  bookHash: string;
  allocationHash: string;
}

/**
 * The order book of one trading period: orders are validated and collected while the period is open, then the
 * period is closed once and cleared. Off chain by design: only the digests and the settlement go on chain.
 */
export class OrderBook {
  private readonly list: Order[] = [];
  private readonly ids = new Set<string>();
  private readonly perParticipant = new Map<string, number>();
  private closed: ClosedPeriod | undefined;

  constructor(
    readonly periodId: number,
    private readonly tariffs: Tariffs,
    private readonly rule: PricingRule = 'uniform',
  ) {}

  get isOpen(): boolean {
    return this.closed === undefined;
  }

  get orders(): readonly Order[] {
    return this.list;
  }

  /** Validate and accept an order; refusals are coded (`ERR_MARKET_*`) and leave the book unchanged. */
  submit(input: unknown): Result<Order> {
    if (this.closed) return err('ERR_MARKET_PERIOD_CLOSED', `period ${this.periodId} is already cleared`);
    const parsed = parseOrder(input);
    if (!parsed.ok) return parsed;
    const o = parsed.value;
    if (this.ids.has(o.id)) return err('ERR_MARKET_DUPLICATE_ORDER', `order ${o.id} was already submitted`);
    const n = this.perParticipant.get(o.participant) ?? 0;
    if (n >= MAX_ORDERS_PER_PARTICIPANT)
      return err('ERR_MARKET_TOO_MANY_ORDERS', `at most ${MAX_ORDERS_PER_PARTICIPANT} orders per participant`);
    this.ids.add(o.id);
    this.perParticipant.set(o.participant, n + 1);
    this.list.push(o);
    return ok(o);
  }

  /** Close the period and clear it; a second call returns the same result. */
  close(): ClosedPeriod {
    if (this.closed) return this.closed;
    const clearing = clear(this.list, this.tariffs, this.rule);
    this.closed = {
      periodId: this.periodId,
      orders: this.list,
      clearing,
      bookHash: orderBookHash(this.periodId, this.list),
      allocationHash: allocationHash(this.periodId, clearing),
    };
    return this.closed;
  }
}
