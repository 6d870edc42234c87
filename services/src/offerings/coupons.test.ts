import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { couponAmount, couponSchedule, redemptionAmount } from './coupons.js';
import { addMonths, type OfferingTerms, parseTerms } from './terms.js';
import { greenBondTerms } from './testing.js';

const ISSUED = '2026-01-31T12:00:00.000Z';

function terms(over: Record<string, unknown> = {}): OfferingTerms {
  const r = parseTerms({
    ...greenBondTerms({}, Date.parse(ISSUED) - 10 * 86_400_000),
    closesAt: ISSUED,
    maturesAt: '2028-01-31T12:00:00.000Z',
    coupon: { rateBps: 350, perYear: 2 },
    ...over,
  });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value;
}

describe('coupons and redemption', () => {
  it('schedules a coupon every 12/perYear months from the issue date, the day clamped to the month end, the last at maturity', () => {
    const s = couponSchedule(terms());
    assert.deepEqual(
      s.map((c) => c.paysAt),
      ['2026-07-31T12:00:00.000Z', '2027-01-31T12:00:00.000Z', '2027-07-31T12:00:00.000Z', '2028-01-31T12:00:00.000Z'],
    );
    assert.deepEqual(
      couponSchedule(terms({ maturesAt: '2027-01-31T12:00:00.000Z', coupon: { rateBps: 350, perYear: 4 } })).map((c) =>
        c.paysAt.slice(0, 10),
      ),
      ['2026-04-30', '2026-07-31', '2026-10-31', '2027-01-31'],
      'quarterly from 31 January: 30 April, not 1 May, and back to the 31st after',
    );
    assert.equal(addMonths('2024-01-31T00:00:00.000Z', 1).toISOString().slice(0, 10), '2024-02-29');
    assert.equal(s[0]!.number, 1);
    assert.equal(s[0]!.recordAt, '2026-07-30T12:00:00.000Z', 'holders of record one day before by default');
    // 100.00 EUR × 3.50 % ÷ 2 = 1.75 EUR a unit per half year
    assert.equal(s[0]!.perUnit, '175');
    assert.equal(couponSchedule(terms({ coupon: { rateBps: 333, perYear: 4 } }))[0]!.perUnit, '83.25');
    assert.deepEqual(couponSchedule(terms({ coupon: undefined })), []);
  });

  it('refuses a coupon without maturity, or a maturity that is not a coupon date', () => {
    const base = { ...greenBondTerms({}), coupon: { rateBps: 350, perYear: 1 } };
    const none = parseTerms(base);
    assert.equal(!none.ok && none.error.code, 'ERR_OFFERING_TERMS_INVALID');
    const off = parseTerms({
      ...base,
      maturesAt: new Date(Date.parse(base.closesAt) + 400 * 86_400_000).toISOString(),
    });
    assert.equal(!off.ok && off.error.code, 'ERR_OFFERING_TERMS_INVALID');
    assert.match(!off.ok ? off.error.message : '', /maturesAt: must fall on a coupon date/);
    const before = parseTerms({ ...base, coupon: undefined, maturesAt: base.opensAt });
    assert.match(!before.ok ? before.error.message : '', /maturesAt: must be after closesAt/);
  });

  it('owes coupons and principal in whole minor units, rounded down per holder', () => {
    const t = terms({ coupon: { rateBps: 333, perYear: 4 } });
    // 83.25 cents a unit: 3 units → 249.75 → 249
    assert.equal(couponAmount(t, 3n), 249n);
    assert.equal(couponAmount(t, 4n), 333n);
    assert.equal(redemptionAmount(t, 3n), 30_000n);
    // with 2 token decimals, 150 base units are 1.5 units
    const d = terms({ token: { name: 'GB', symbol: 'GB', decimals: 2 } });
    assert.equal(couponAmount(d, 150n), 262n, '1.5 × 175 = 262.5 → 262');
    assert.equal(redemptionAmount(d, 150n), 15_000n);
    assert.equal(redemptionAmount(d, 1n), 100n);
    // huge balances stay exact (bigint)
    assert.equal(couponAmount(t, 10n ** 12n), 83_250_000_000_000n);
  });
});
