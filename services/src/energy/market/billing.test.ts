import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Rng } from '../rng.js';
import { GRID_ACCOUNT, type MeterReading, monthlyBills, parseReading, settlePeriod } from './billing.js';
import { OrderBook } from './book.js';
import { clear } from './clearing.js';
import { randomBook } from './testing.js';
import { centsPerKwh as c, DEFAULT_TARIFFS as T, MAX_ORDERS_PER_PARTICIPANT, moneyOf } from './units.js';

const order = (id: string, participant: string, side: 'bid' | 'offer', energyWh: number, cents: number) => ({
  id,
  participant: `p:${participant}`,
  meterId: `M-${participant}`,
  side,
  energyWh,
  limitPrice: c(cents),
});
const reading = (participant: string, consumedWh: number, producedWh: number): MeterReading => ({
  participant: `p:${participant}`,
  meterId: `M-${participant}`,
  consumedWh,
  producedWh,
});

describe('order book', () => {
  it('refuses negative, zero, fractional and absurd amounts with ERR_MARKET_AMOUNT_OUT_OF_RANGE', () => {
    const book = new OrderBook(1, T);
    for (const bad of [
      { energyWh: -5 },
      { energyWh: 0 },
      { energyWh: 1.5 },
      { energyWh: 1e12 },
      { limitPrice: -1 },
      { limitPrice: 1e15 },
      { limitPrice: Number.NaN },
    ]) {
      const r = book.submit({ ...order('o1', 'A', 'bid', 100, 20), ...bad });
      assert.equal(r.ok, false, JSON.stringify(bad));
      if (!r.ok) assert.equal(r.error.code, 'ERR_MARKET_AMOUNT_OUT_OF_RANGE', JSON.stringify(bad));
    }
    assert.equal(book.orders.length, 0, 'nothing half-accepted');
  });

  it('refuses malformed orders with ERR_MARKET_ORDER_INVALID listing every problem', () => {
    const book = new OrderBook(1, T);
    const r = book.submit({ ...order('o1', 'A', 'bid', 100, 20), side: 'steal', meterId: '', extra: 1 });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'ERR_MARKET_ORDER_INVALID');
      assert.match(r.error.message, /side/);
      assert.match(r.error.message, /meterId/);
    }
    const notObject = book.submit('bid 100');
    assert.equal(!notObject.ok && notObject.error.code, 'ERR_MARKET_ORDER_INVALID');
  });

  it('refuses duplicates, too many orders per participant, and orders after close', () => {
    const book = new OrderBook(1, T);
    assert.ok(book.submit(order('o1', 'A', 'bid', 100, 20)).ok);
    const dup = book.submit(order('o1', 'B', 'offer', 100, 10));
    assert.equal(!dup.ok && dup.error.code, 'ERR_MARKET_DUPLICATE_ORDER');
    for (let i = 1; i < MAX_ORDERS_PER_PARTICIPANT; i++) assert.ok(book.submit(order(`a${i}`, 'A', 'bid', 1, 20)).ok);
    const tooMany = book.submit(order('a-last', 'A', 'bid', 1, 20));
    assert.equal(!tooMany.ok && tooMany.error.code, 'ERR_MARKET_TOO_MANY_ORDERS');
    assert.ok(book.submit(order('s1', 'B', 'offer', 50, 10)).ok);
    const closed = book.close();
    assert.equal(closed.clearing.volumeWh, 50);
    assert.equal(book.close(), closed, 'closing twice returns the same result');
    const late = book.submit(order('s2', 'B', 'offer', 50, 10));
    assert.equal(!late.ok && late.error.code, 'ERR_MARKET_PERIOD_CLOSED');
  });
});

describe('period settlement and bills', () => {
  it('reconciles traded against metered energy: shortfall at retail, excess at feed-in', () => {
    // A buys 1000 Wh from B at the uniform price; A used 1200 (200 short), B delivered 900 of the 1000 it sold
    const cl = clear([order('b', 'A', 'bid', 1000, 20), order('s', 'B', 'offer', 1000, 10)], T);
    assert.equal(cl.price, c(15));
    const r = settlePeriod(1, 0, cl, [reading('A', 1200, 0), reading('B', 100, 1000), reading('C', 300, 500)], T);
    assert.ok(r.ok);
    const [a, b, cc] = r.value.bills;
    assert.equal(a!.gridImportWh, 200);
    assert.equal(a!.net, moneyOf(1000, c(15)) + moneyOf(200, T.retail));
    // B: metered net export 900, sold 1000 → 100 Wh short, bought from the grid at retail
    assert.equal(b!.gridImportWh, 100);
    assert.equal(b!.net, moneyOf(100, T.retail) - moneyOf(1000, c(15)));
    // C traded nothing: its 200 Wh surplus is sold to the grid at feed-in
    assert.equal(cc!.gridExportWh, 200);
    assert.equal(cc!.net, -moneyOf(200, T.feedIn));
    assert.deepEqual(r.value.grid, {
      importWh: 300,
      exportWh: 200,
      received: moneyOf(300, T.retail),
      paid: moneyOf(200, T.feedIn),
    });
    assert.equal(r.value.transfers.at(-1)!.account, GRID_ACCOUNT);
    assert.equal(
      r.value.transfers.reduce((s, t) => s + t.delta, 0n),
      0n,
    );
  });

  it('refuses to bill a trading participant without a reading', () => {
    const cl = clear([order('b', 'A', 'bid', 1000, 20), order('s', 'B', 'offer', 1000, 10)], T);
    const r = settlePeriod(1, 0, cl, [reading('A', 1000, 0)], T);
    assert.equal(!r.ok && r.error.code, 'ERR_MARKET_READING_MISSING');
  });

  it('refuses readings that are negative or above nameplate × slot length', () => {
    assert.equal(parseReading({ ...reading('A', -1, 0) }).ok, false);
    assert.equal(parseReading(reading('A', 10, 751), { nameplateW: 3000, slotSeconds: 900 }).ok, false);
    const r = parseReading(reading('A', 10, 750), { nameplateW: 3000, slotSeconds: 900 });
    assert.ok(r.ok);
    const bad = parseReading({ ...reading('A', 10, 1), meterId: 'x' });
    assert.equal(!bad.ok && bad.error.code, 'ERR_MARKET_READING_INVALID');
  });

  it('balances energy and money to zero across participants and the grid (300 random periods, both rules)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rng = new Rng(seed);
      const book = randomBook(seed, 8 + (seed % 17) * 6, seed % 3 === 0);
      const rule = seed % 2 === 0 ? 'uniform' : 'pay-as-bid';
      const cl = clear(book, T, rule);
      const participants = [...new Set(book.map((o) => o.participant))];
      // delivered energy deviates from what was traded, as real meters do
      const readings = participants.map((p) => ({
        participant: p,
        meterId: 'M-x',
        consumedWh: rng.int(0, 6000),
        producedWh: rng.next() < 0.5 ? rng.int(0, 6000) : 0,
      }));
      const r = settlePeriod(seed, 0, cl, readings, T);
      assert.ok(r.ok, `seed ${seed}`);
      const s = r.value;
      const netMetered = s.bills.reduce((a, b) => a + b.consumedWh - b.producedWh, 0);
      assert.equal(netMetered - (s.grid.importWh - s.grid.exportWh), 0, `seed ${seed}: energy`);
      assert.equal(
        s.bills.reduce((a, b) => a + b.boughtWh - b.soldWh, 0),
        0,
      );
      for (const b of s.bills)
        assert.equal(
          b.consumedWh - b.producedWh,
          b.boughtWh - b.soldWh + b.gridImportWh - b.gridExportWh,
          `seed ${seed}: ${b.participant} reconciles`,
        );
      const money = s.transfers.reduce((a, t) => a + t.delta, 0n);
      assert.equal(money, 0n, `seed ${seed}: money`);
      assert.equal(
        s.bills.reduce((a, b) => a + b.net, 0n),
        s.grid.received - s.grid.paid,
      );
    }
  });

  it('sums period bills into monthly bills by Paris local month', () => {
    const cl = clear([order('b', 'A', 'bid', 1000, 20), order('s', 'B', 'offer', 1000, 10)], T);
    const rs = [reading('A', 1000, 0), reading('B', 0, 1000)];
    // 2026-01-31T23:15Z is already February in Paris (UTC+1)
    const jan = settlePeriod(1, Date.UTC(2026, 0, 31, 22, 45), cl, rs, T);
    const feb = settlePeriod(2, Date.UTC(2026, 0, 31, 23, 15), cl, rs, T);
    const feb2 = settlePeriod(3, Date.UTC(2026, 1, 10, 12, 0), cl, rs, T);
    assert.ok(jan.ok && feb.ok && feb2.ok);
    const m = monthlyBills([jan.value, feb.value, feb2.value]);
    assert.deepEqual(
      m.map((x) => `${x.month} ${x.participant} ${x.periods} ${x.boughtWh}`),
      ['2026-01 p:A 1 1000', '2026-01 p:B 1 0', '2026-02 p:A 2 2000', '2026-02 p:B 2 0'],
    );
    assert.equal(m[2]!.net, 2n * moneyOf(1000, c(15)));
  });
});
