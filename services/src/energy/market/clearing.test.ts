import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocationHash, clear, orderBookHash, tradeSummary } from './clearing.js';
import { clearNaive } from './naive.js';
import type { Order } from './order.js';
import { randomBook } from './testing.js';
import { centsPerKwh as c, DEFAULT_TARIFFS as T } from './units.js';

let n = 0;
const bid = (participant: string, energyWh: number, cents: number): Order => ({
  id: `b${++n}`,
  participant,
  meterId: `M-${participant}`,
  side: 'bid',
  energyWh,
  limitPrice: c(cents),
});
const offer = (participant: string, energyWh: number, cents: number): Order => ({
  ...bid(participant, energyWh, cents),
  id: `s${++n}`,
  side: 'offer',
});
const pairs = (r: ReturnType<typeof clear>) => r.trades.map((t) => `${t.buyer}<${t.seller}:${t.energyWh}@${t.price}`);

describe('uniform-price call auction', () => {
  it('fills bids by price descending against offers ascending, partially, at the midpoint of the last pair', () => {
    const r = clear([bid('A', 1000, 24), bid('B', 500, 20), offer('C', 800, 8), offer('D', 1000, 21)], T);
    // A takes C's 800 then 200 of D; B (20) is below D (21): the walk stops. Last pair A 24 / D 21 → 22.5 c€
    assert.equal(r.price, 225_000);
    assert.deepEqual(pairs(r), ['A<C:800@225000', 'A<D:200@225000']);
    assert.equal(r.volumeWh, 1000);
    assert.equal(r.filledWh.get(r.trades[1]!.offerId), 200);
    assert.equal(r.filledWh.has('b2'), false);
  });

  it('pay-as-bid trades each quantity at its buyer’s bid', () => {
    const r = clear([bid('A', 300, 24), bid('B', 500, 20), offer('C', 600, 8)], T, 'pay-as-bid');
    assert.equal(r.price, null);
    assert.deepEqual(pairs(r), ['A<C:300@240000', 'B<C:300@200000']);
  });

  it('pay-as-bid: the traded value and the mean price of a hand-computed book', () => {
    // A bids 1000 Wh at 20 c, B 500 Wh at 15 c; C offers 800 Wh at 10 c, D 1000 Wh at 14 c.
    // A takes C's 800 and 200 of D at 20 c; B takes 500 of D at 15 c (14 ≤ 15).
    // value = 800 × 200,000 + 200 × 200,000 + 500 × 150,000 = 275,000,000 n€ (0.275 €) for 1,500 Wh,
    // mean = 275,000,000 / 1,500 = 183,333.33 µ€/kWh = 18.33 c€/kWh (and not 0: pay-as-bid has no clearing price).
    const r = clear(
      [bid('A', 1000, 20), bid('B', 500, 15), offer('C', 800, 10), offer('D', 1000, 14)],
      T,
      'pay-as-bid',
    );
    assert.deepEqual(pairs(r), ['A<C:800@200000', 'A<D:200@200000', 'B<D:500@150000']);
    assert.equal(r.price, null);
    const s = tradeSummary(r);
    assert.equal(s.volumeWh, 1500);
    assert.equal(s.valueNanoEur, 275_000_000n);
    assert.equal(s.meanPrice?.toFixed(2), '183333.33');
    // under uniform pricing the mean is the clearing price: last pair B 15 / D 14 → 14.5 c€ for all 1,500 Wh
    const u = clear([bid('A', 1000, 20), bid('B', 500, 15), offer('C', 800, 10), offer('D', 1000, 14)], T);
    assert.equal(u.price, 145_000);
    assert.equal(tradeSummary(u).meanPrice, u.price);
    assert.equal(tradeSummary(clear([], T, 'pay-as-bid')).meanPrice, null);
  });

  it('a participant never matches itself; its offer stays available to others', () => {
    const r = clear([bid('A', 1000, 20), offer('A', 1000, 8), offer('B', 500, 10), bid('C', 300, 15)], T);
    assert.deepEqual(
      r.trades.map((t) => `${t.buyer}<${t.seller}:${t.energyWh}`),
      ['A<B:500', 'C<A:300'],
    );
    assert.ok(r.trades.every((t) => t.buyer !== t.seller));
  });

  it('prices self-excluded matches so that no limit is crossed, dropping a crossed marginal match', () => {
    // P's bid skips P's own cheap offer and takes Q's; R then takes P's offer. Uniform price: midpoint of the lowest
    // matched bid (19) and the highest matched offer (18), not of the last pair (19 / 10), which would pay Q below 18.
    const r = clear([bid('P', 1000, 20), offer('P', 1000, 10), offer('Q', 1000, 18), bid('R', 1000, 19)], T);
    assert.deepEqual(pairs(r), ['P<Q:1000@185000', 'R<P:1000@185000']);
    // with R at 15 no single price fits both matches (15 < 18): the crossed match R<P is dropped
    const crossed = clear([bid('P', 1000, 20), offer('P', 1000, 10), offer('Q', 1000, 18), bid('R', 1000, 15)], T);
    assert.deepEqual(pairs(crossed), ['P<Q:1000@190000']);
    assert.equal(crossed.volumeWh, 1000);
    assert.equal(crossed.filledWh.size, 2, 'R and P’s offer are left unfilled');
    const payAsBid = clear(
      [bid('P', 1000, 20), offer('P', 1000, 10), offer('Q', 1000, 18), bid('R', 1000, 15)],
      T,
      'pay-as-bid',
    );
    assert.equal(payAsBid.trades.length, 2, 'pay-as-bid keeps every match at its own bid');
  });

  it('keeps the price between feed-in and retail: limits beyond the band count as the band edge', () => {
    const r = clear([bid('A', 100, 40), offer('B', 100, 1)], T);
    assert.equal(r.price, Math.floor((T.retail + T.feedIn) / 2));
    const above = clear([bid('A', 100, 1000), offer('B', 100, 26)], T);
    assert.equal(above.trades.length, 0, 'an offer above retail never sells: the grid is cheaper');
    const below = clear([bid('A', 100, 5), offer('B', 100, 1)], T);
    assert.equal(below.trades.length, 0, 'a bid below feed-in never buys: the grid pays sellers more');
  });

  it('breaks price ties by submission order', () => {
    const r = clear([offer('S1', 100, 10), offer('S2', 100, 10), bid('B', 150, 20)], T);
    assert.deepEqual(
      r.trades.map((t) => `${t.seller}:${t.energyWh}`),
      ['S1:100', 'S2:50'],
    );
    const swapped = clear([offer('S2', 100, 10), offer('S1', 100, 10), bid('B', 150, 20)], T);
    assert.deepEqual(
      swapped.trades.map((t) => `${t.seller}:${t.energyWh}`),
      ['S2:100', 'S1:50'],
    );
  });

  it('clears nothing from an empty or one-sided book', () => {
    assert.equal(clear([], T).price, null);
    assert.equal(clear([bid('A', 10, 20), bid('B', 10, 22)], T).trades.length, 0);
  });

  it('gives exactly the naive matcher’s allocation on random books (both rules, one- and two-sided)', () => {
    for (let seed = 1; seed <= 60; seed++) {
      for (const twoSided of [false, true]) {
        const book = randomBook(seed, 20 + (seed % 7) * 30, twoSided);
        for (const rule of ['uniform', 'pay-as-bid'] as const) {
          const fast = clear(book, T, rule);
          const slow = clearNaive(book, T, rule);
          assert.equal(allocationHash(seed, fast), allocationHash(seed, slow), `seed ${seed} ${rule} ${twoSided}`);
          assert.equal(fast.volumeWh, slow.volumeWh);
        }
      }
    }
  });

  it('holds the auction invariants on 200 random books (one- and two-sided)', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const twoSided = seed % 2 === 0;
      const book = randomBook(seed * 7919, 10 + (seed % 13) * 25, twoSided);
      const r = clear(book, T);
      const byId = new Map(book.map((o) => [o.id, o]));
      let sum = 0;
      for (const t of r.trades) {
        assert.notEqual(t.buyer, t.seller);
        assert.ok(t.energyWh > 0);
        sum += t.energyWh;
      }
      assert.equal(sum, r.volumeWh);
      for (const [id, filled] of r.filledWh) assert.ok(filled <= byId.get(id)!.energyWh, `overfilled ${id}`);
      if (r.price === null) {
        assert.equal(r.trades.length, 0);
        continue;
      }
      assert.ok(r.price >= T.feedIn && r.price <= T.retail, 'price within the tariff band');
      // individually rational: no buyer pays above its limit, no seller receives below its limit
      for (const t of r.trades) {
        assert.ok(Math.min(byId.get(t.bidId)!.limitPrice, T.retail) >= r.price, `seed ${seed}: bid below price`);
        assert.ok(Math.max(byId.get(t.offerId)!.limitPrice, T.feedIn) <= r.price, `seed ${seed}: offer above price`);
      }
      // efficient: no remaining bid and remaining offer of different participants could still trade (one-sided books;
      // with two-sided participants a crossed marginal match may have been dropped on purpose)
      if (twoSided) continue;
      const rem = (o: Order) => o.energyWh - (r.filledWh.get(o.id) ?? 0);
      const openBids = book.filter((o) => o.side === 'bid' && rem(o) > 0);
      const openOffers = book.filter((o) => o.side === 'offer' && rem(o) > 0);
      for (const b of openBids)
        for (const s of openOffers)
          assert.ok(
            b.participant === s.participant || Math.min(b.limitPrice, T.retail) < Math.max(s.limitPrice, T.feedIn),
            `seed ${seed}: ${b.id} and ${s.id} could still trade`,
          );
    }
  });

  it('clears 10,000 orders with the invariants intact (timing is the bench’s job)', () => {
    const book = randomBook(42, 10_000);
    const r = clear(book, T);
    assert.ok(r.trades.length > 1000);
    const bought = r.trades.reduce((a, t) => a + t.energyWh, 0);
    assert.equal(bought, r.volumeWh);
    assert.equal(allocationHash(1, r), allocationHash(1, clear(book, T)), 'deterministic');
  });

  it('hashes the book and allocation so that any change shows', () => {
    const book = randomBook(5, 50);
    const h = orderBookHash(7, book);
    assert.match(h, /^0x[0-9a-f]{64}$/);
    assert.notEqual(orderBookHash(8, book), h);
    const changed = book.map((o, i) => (i === 3 ? { ...o, energyWh: o.energyWh + 1 } : o));
    assert.notEqual(orderBookHash(7, changed), h);
    assert.notEqual(allocationHash(7, clear(book, T)), allocationHash(7, clear(book, T, 'pay-as-bid')));
  });
});
