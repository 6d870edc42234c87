import { createHash } from 'node:crypto';
import type { Order } from './order.js';
import type { Tariffs } from './units.js';

/** Uniform price (pay-as-clear, everyone trades at one price) or pay-as-bid (each trade at its buyer's bid). */
export type PricingRule = 'uniform' | 'pay-as-bid';

/** One matched quantity between a bid and an offer. */
export interface Trade {
  bidId: string;
  offerId: string;
  buyer: string;
  seller: string;
  buyerMeter: string;
  sellerMeter: string;
  energyWh: number;
  /** µ€/kWh */
  price: number;
}

export interface Clearing {
  rule: PricingRule;
  /** The uniform clearing price (µ€/kWh); null when nothing matched or under pay-as-bid. */
  price: number | null;
  trades: Trade[];
  volumeWh: number;
  /** Filled energy per order id (orders with no fill are absent). */
  filledWh: Map<string, number>;
}

export interface Entry {
  order: Order;
  /** The order's own limit (sort key). */
  price: number;
  /** Submission position: the time-priority tie-break between equal prices. */
  seq: number;
  /** Limit clipped into the tariff band: a bid above retail is worth retail, an offer below feed-in is worth feed-in. */
  lim: number;
  rem: number;
}

/** Price priority first (bids high to low, offers low to high), then time priority (earlier submission first). */
export function sortBook(orders: readonly Order[], tariffs: Tariffs): { bids: Entry[]; offers: Entry[] } {
  const bids: Entry[] = [];
  const offers: Entry[] = [];
  for (let i = 0; i < orders.length; i++) {
    const o = orders[i]!;
    const price = o.limitPrice;
    if (o.side === 'bid') bids.push({ order: o, price, seq: i, lim: Math.min(price, tariffs.retail), rem: o.energyWh });
    else offers.push({ order: o, price, seq: i, lim: Math.max(price, tariffs.feedIn), rem: o.energyWh });
  }
  bids.sort((a, b) => b.price - a.price || a.seq - b.seq);
  offers.sort((a, b) => a.price - b.price || a.seq - b.seq);
  return { bids, offers };
}

export const clampPrice = (p: number, t: Tariffs): number => Math.min(t.retail, Math.max(t.feedIn, p));

/** Uniform price: the midpoint of the last (marginal) matched pair, rounded down to a whole µ€/kWh, in the band. */
export const marginalPrice = (bidLim: number, offerLim: number, t: Tariffs): number =>
  clampPrice(Math.floor((bidLim + offerLim) / 2), t);

/** One matched quantity between two book entries, in walk order (bids from the highest down). */
export interface Match {
  bid: Entry;
  offer: Entry;
  energyWh: number;
}

/**
 * Turn the walk's matches into the clearing. Under `uniform` one price must respect every matched limit, so the
 * allocation is the longest prefix of the matches whose lowest bid is not below its highest offer, priced at the
 * midpoint of that marginal pair (for books where nobody both buys and sells this is every match, and the pair is
 * simply the last one matched). Only self-exclusion can make a later, lower bid take an offer that an earlier bid
 * skipped as its own; such crossed matches are dropped rather than priced outside someone's limit.
 * Under `pay-as-bid` every match stands, at its buyer's clipped bid.
 */
export function finish(
  rule: PricingRule,
  matches: Match[],
  bids: Entry[],
  offers: Entry[],
  tariffs: Tariffs,
): Clearing {
  let keep = matches.length;
  let maxOffer = 0;
  if (rule === 'uniform') {
    keep = 0;
    for (const [i, m] of matches.entries()) {
      if (m.offer.lim > maxOffer) maxOffer = m.offer.lim;
      if (m.bid.lim < maxOffer) break;
      keep = i + 1;
    }
    for (let i = keep; i < matches.length; i++) {
      const m = matches[i]!;
      m.bid.rem += m.energyWh;
      m.offer.rem += m.energyWh;
    }
    if (keep > 0) {
      maxOffer = 0;
      for (let i = 0; i < keep; i++) if (matches[i]!.offer.lim > maxOffer) maxOffer = matches[i]!.offer.lim;
    }
  }
  const price = rule === 'uniform' && keep > 0 ? marginalPrice(matches[keep - 1]!.bid.lim, maxOffer, tariffs) : null;
  const trades: Trade[] = new Array(keep);
  let volumeWh = 0;
  for (let i = 0; i < keep; i++) {
    const { bid, offer, energyWh } = matches[i]!;
    volumeWh += energyWh;
    trades[i] = {
      bidId: bid.order.id,
      offerId: offer.order.id,
      buyer: bid.order.participant,
      seller: offer.order.participant,
      buyerMeter: bid.order.meterId,
      sellerMeter: offer.order.meterId,
      energyWh,
      price: price ?? bid.lim,
    };
  }
  // each order's fill is what it no longer has: one map entry per filled order
  const filledWh = new Map<string, number>();
  for (const list of [bids, offers])
    for (const x of list) if (x.rem < x.order.energyWh) filledWh.set(x.order.id, x.order.energyWh - x.rem);
  return { rule, price, trades, volumeWh, filledWh };
}

/**
 * Clear one trading period as a two-sided call auction.
 *
 * Bids are walked from the highest price down; each takes energy from the cheapest remaining offer of another
 * participant while bid ≥ offer (limits clipped into [feed-in, retail] first, so a trade never leaves the band and
 * nobody pays more than the grid would charge). Orders fill partially. A participant never matches itself: its own
 * offers are skipped for its bids and stay available to others. The walk stops as soon as the cheapest remaining offer
 * is dearer than the current bid, since every later bid is lower. Cost: O(n log n) for the sort plus O(n) for the walk
 * (self-skips are bounded by MAX_ORDERS_PER_PARTICIPANT).
 *
 * Under `uniform` every trade is at the midpoint of the last (marginal) matched pair; under `pay-as-bid` each trade is
 * at its buyer's (clipped) bid (see `finish`). Orders that do not fill are settled against the grid later, from the
 * meter readings.
 */
export function clear(orders: readonly Order[], tariffs: Tariffs, rule: PricingRule = 'uniform'): Clearing {
  const { bids, offers } = sortBook(orders, tariffs);
  const matches: Match[] = [];
  let head = 0;
  walk: for (const b of bids) {
    while (b.rem > 0) {
      while (head < offers.length && offers[head]!.rem === 0) head++;
      if (head === offers.length || offers[head]!.lim > b.lim) break walk;
      let k = head;
      const me = b.order.participant;
      while (k < offers.length && (offers[k]!.rem === 0 || offers[k]!.order.participant === me)) k++;
      if (k === offers.length || offers[k]!.lim > b.lim) break; // only own offers are cheap enough: next bid
      const s = offers[k]!;
      const e = b.rem < s.rem ? b.rem : s.rem;
      b.rem -= e;
      s.rem -= e;
      matches.push({ bid: b, offer: s, energyWh: e });
    }
  }
  return finish(rule, matches, bids, offers, tariffs);
}

/** What the trades of a clearing come to. */
export interface TradeSummary {
  volumeWh: number;
  /** Σ energy × price over the trades, n€ (exact). */
  valueNanoEur: bigint;
  /**
   * Volume-weighted mean trade price, µ€/kWh (null when nothing traded): the clearing price under `uniform`, what
   * buyers paid on average under `pay-as-bid`, where `Clearing.price` is null.
   */
  meanPrice: number | null;
}

export function tradeSummary(c: Pick<Clearing, 'trades'>): TradeSummary {
  let volumeWh = 0;
  let valueNanoEur = 0n;
  for (const t of c.trades) {
    volumeWh += t.energyWh;
    valueNanoEur += BigInt(t.energyWh) * BigInt(t.price);
  }
  return { volumeWh, valueNanoEur, meanPrice: volumeWh > 0 ? Number(valueNanoEur) / volumeWh : null };
}

const sha256 = (s: string) => `0x${createHash('sha256').update(s).digest('hex')}`;

/** bytes32 digest of the order book (orders in submission order, canonical fields): what settlement commits to. */
export function orderBookHash(periodId: number, orders: readonly Order[]): string {
  const lines = orders.map((o) => [o.id, o.participant, o.meterId, o.side, o.energyWh, o.limitPrice].join('|'));
  return sha256(`tessera.energy.book.v1\n${periodId}\n${lines.join('\n')}`);
}

/** bytes32 digest of the allocation (rule, price and every trade in match order). */
export function allocationHash(periodId: number, c: Clearing): string {
  const lines = c.trades.map((t) => [t.bidId, t.offerId, t.energyWh, t.price].join('|'));
  return sha256(`tessera.energy.allocation.v1\n${periodId}\n${c.rule}\n${c.price ?? ''}\n${lines.join('\n')}`);
}
