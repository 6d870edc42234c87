import { type Clearing, finish, type Match, type PricingRule, sortBook } from './clearing.js';
import type { Order } from './order.js';
import type { Tariffs } from './units.js';

/**
 * The textbook matcher, kept as the benchmark baseline and as an oracle for tests: before every match it scans the
 * whole book for the best remaining bid and the best remaining offer of another participant. Same rules and same
 * result as `clear`, O(matches × n) instead of O(n log n).
 */
export function clearNaive(orders: readonly Order[], tariffs: Tariffs, rule: PricingRule = 'uniform'): Clearing {
  const { bids, offers } = sortBook(orders, tariffs);
  // the sort only supplies priorities; the scans below never rely on the order of the arrays
  const rank = new Map<object, number>();
  for (const [i, b] of bids.entries()) rank.set(b, i);
  for (const [i, o] of offers.entries()) rank.set(o, i);
  const better = (x: (typeof bids)[number], y: (typeof bids)[number] | undefined) =>
    y === undefined || rank.get(x)! < rank.get(y)!;
  const done = new Set<object>();
  const matches: Match[] = [];
  for (;;) {
    let b: (typeof bids)[number] | undefined;
    for (const x of bids) if (x.rem > 0 && !done.has(x) && better(x, b)) b = x;
    if (b === undefined) break;
    let cheapest: (typeof offers)[number] | undefined;
    let other: (typeof offers)[number] | undefined;
    for (const x of offers) {
      if (x.rem === 0) continue;
      if (better(x, cheapest)) cheapest = x;
      if (x.order.participant !== b.order.participant && better(x, other)) other = x;
    }
    if (cheapest === undefined || cheapest.lim > b.lim) break;
    if (other === undefined || other.lim > b.lim) {
      done.add(b);
      continue;
    }
    const e = Math.min(b.rem, other.rem);
    b.rem -= e;
    other.rem -= e;
    matches.push({ bid: b, offer: other, energyWh: e });
  }
  return finish(rule, matches, bids, offers, tariffs);
}
