import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allocate, type Ticket } from './allocation.js';

const t = (id: string, quantity: number, at = id): Ticket => ({ id, quantity, at });
const got = (a: ReturnType<typeof allocate>) => Object.fromEntries(a.map((x) => [x.id, x.allocated]));

describe('allocation at close', () => {
  it('fills every ticket when the book is within the amount', () => {
    assert.deepEqual(got(allocate(100, 10, [t('a', 30), t('b', 70)])), { a: 30, b: 70 });
    assert.deepEqual(got(allocate(100, 10, [t('a', 30)])), { a: 30 });
  });

  it('scales pro rata when oversubscribed and sums exactly to the amount', () => {
    assert.deepEqual(got(allocate(100, 10, [t('a', 150), t('b', 50)])), { a: 75, b: 25 });
    // 3 equal tickets of 100 for 100 units: 33 each, the last unit to the earliest
    assert.deepEqual(got(allocate(100, 1, [t('b', 100, '2'), t('a', 100, '3'), t('c', 100, '1')])), {
      b: 33,
      a: 33,
      c: 34,
    });
  });

  it('gives rounding units to the largest remainders first', () => {
    // 1000 for 1,500 requested: 200→133.33, 500→333.33, 800→533.33 → floors 999, one unit to the earliest
    const r = got(allocate(1000, 1, [t('x', 200, '3'), t('y', 500, '2'), t('z', 800, '1')]));
    assert.deepEqual(r, { x: 133, y: 333, z: 534 });
    // 10 for 7+7+7: shares 3.33 each … floors 9, one unit by arrival
    assert.deepEqual(got(allocate(10, 1, [t('p', 7, '2'), t('q', 7, '1'), t('r', 7, '3')])), { p: 3, q: 4, r: 3 });
  });

  it('drops tickets whose share would fall below the minimum ticket, smallest first, and rescales the rest', () => {
    // 100 for 10 + 10 + 200: pro rata 4.5, 4.5, 90.9 → below min 10; dropping one leaves 10 + 200 → 4.76: drop too
    assert.deepEqual(got(allocate(100, 10, [t('a', 10), t('b', 10), t('c', 200)])), { a: 0, b: 0, c: 100 });
    // 100 for 30 + 40 + 60, min 25: a's share 23 is below; without it 40 + 60 fit entirely
    assert.deepEqual(got(allocate(100, 25, [t('a', 30, '1'), t('b', 40, '2'), t('c', 60, '3')])), {
      a: 0,
      b: 40,
      c: 60,
    });
  });

  it('holds its invariants on random books (deterministic seed)', () => {
    let seed = 42;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let round = 0; round < 300; round++) {
      const amount = 1 + Math.floor(rnd() * 5000);
      const min = 1 + Math.floor(rnd() * 50);
      const tickets = Array.from({ length: 1 + Math.floor(rnd() * 40) }, (_, i) =>
        t(`s${i}`, min + Math.floor(rnd() * 800), String(Math.floor(rnd() * 10))),
      );
      const a = allocate(amount, min, tickets);
      const total = a.reduce((s, x) => s + x.allocated, 0);
      const requested = tickets.reduce((s, x) => s + x.quantity, 0);
      assert.equal(total <= amount, true);
      if (requested <= amount) assert.equal(total, requested);
      for (const x of a) {
        assert.ok(x.allocated <= x.requested, 'never more than asked');
        assert.ok(x.allocated === 0 || x.allocated >= min, 'never a ticket below the minimum');
      }
      if (a.some((x) => x.allocated > 0 && x.allocated < x.requested))
        assert.equal(total, amount, 'scaled books fill up');
      assert.deepEqual(
        allocate(amount, min, [...tickets].reverse()).sort((x, y) => (x.id < y.id ? -1 : 1)),
        [...a].sort((x, y) => (x.id < y.id ? -1 : 1)),
        'input order does not matter',
      );
    }
  });
});
