import { type OfferingTerms, couponDates } from './terms.js';

/**
 * Coupons and redemption of a bond offering as pure functions of its terms: the schedule, and what a holding of
 * token base units is owed. Money is integer minor units of the offering's currency (cents), computed with bigint;
 * every amount owed to a holder is rounded down to the minor unit, so the issuer never pays more than the terms say
 * and the total paid falls short of the exact total by less than one minor unit per holder.
 */

const DAY_MS = 86_400_000;

export interface CouponDate {
  /** 1 for the first coupon. */
  number: number;
  /** Holders of record at this time are paid (the payment date less `recordDays`). */
  recordAt: string;
  paysAt: string;
  /** Minor units owed per whole unit held, exact, as a decimal string (for example "175" or "87.5"). */
  perUnit: string;
}

/** 10^6 makes any coupon per unit exact: its denominator divides 10,000 × 4 = 2^6 × 5^4. */
const PER_UNIT_SCALE = 1_000_000n;

function decimal(scaled: bigint, scale: bigint): string {
  const whole = scaled / scale;
  const frac = (scaled % scale)
    .toString()
    .padStart(scale.toString().length - 1, '0')
    .replace(/0+$/, '');
  return frac ? `${whole}.${frac}` : whole.toString();
}

/** The coupon schedule of the terms (empty without a coupon). */
export function couponSchedule(terms: OfferingTerms): CouponDate[] {
  const c = terms.coupon;
  if (!c || !terms.maturesAt) return [];
  const dates = couponDates(terms.closesAt, terms.maturesAt, c.perYear) ?? [];
  const perUnit = decimal(
    (BigInt(terms.unitPrice.amount) * BigInt(c.rateBps) * PER_UNIT_SCALE) / (10_000n * BigInt(c.perYear)),
    PER_UNIT_SCALE,
  );
  return dates.map((d, i) => ({
    number: i + 1,
    recordAt: new Date(d.getTime() - c.recordDays * DAY_MS).toISOString(),
    paysAt: d.toISOString(),
    perUnit,
  }));
}

/**
 * One coupon owed on `balance` token base units: balance / 10^decimals units × unit price × rate / periods a year,
 * rounded down to the minor unit.
 *
 * @example couponAmount(terms, 3n) // 525n: 3 units × 100.00 EUR × 3.50 % ÷ 2 (twice a year), 0 decimals
 */
export function couponAmount(terms: OfferingTerms, balance: bigint): bigint {
  const c = terms.coupon;
  if (!c) return 0n;
  return (
    (balance * BigInt(terms.unitPrice.amount) * BigInt(c.rateBps)) /
    (10n ** BigInt(terms.token.decimals) * 10_000n * BigInt(c.perYear))
  );
}

/** The principal repaid at maturity on `balance` token base units (at the unit price), rounded down. */
export function redemptionAmount(terms: OfferingTerms, balance: bigint): bigint {
  return (balance * BigInt(terms.unitPrice.amount)) / 10n ** BigInt(terms.token.decimals);
}
