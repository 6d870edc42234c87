import { CREDENTIAL_TYPES, err, ok, parseDid, type Result } from '@tessera/protocol';
import { z } from 'zod';

/**
 * The terms of a token offering (for example a green bond): what is offered, at what price, to whom, when, and the
 * documents (prospectus, framework, second-party opinion) by hash. Amounts are whole token units; prices are minor
 * units of a currency (cents), so nothing here is a float.
 */

/** Quantities stay exact as JavaScript numbers and as SQL bigints on both engines. */
export const MAX_UNITS = 1_000_000_000_000;
export const MAX_UNIT_PRICE = 1_000_000_000_000;

const investorClaims = CREDENTIAL_TYPES.AccreditedInvestorCredential.claims.shape;
/** An allowed jurisdiction is exactly what an AccreditedInvestor credential may state (ISO 3166-1 alpha-2). */
const jurisdiction = investorClaims.jurisdiction;
const accreditationLevel = investorClaims.accreditationLevel;
const investorType = investorClaims.investorType;

const did = () =>
  z
    .string()
    .max(512)
    .refine((s) => parseDid(s).ok, 'must be a DID (did:<method>:<id>)');
const isoDateTime = () => z.iso.datetime({ offset: true });
const units = () => z.number().int('must be whole units').min(1, 'must be at least 1').max(MAX_UNITS);

export const OFFERING_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,63}$/;

export const OfferingDocumentSchema = z.strictObject({
  /** What the document is, for example "prospectus" or "green bond framework". */
  title: z.string().trim().min(1).max(200),
  /** SHA-256 of the document's bytes, lowercase hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits (SHA-256)'),
  mediaType: z
    .string()
    .regex(/^[a-z]+\/[a-z0-9.+-]+$/)
    .optional(),
  uri: z.url().max(2048).optional(),
});

/**
 * A fixed-rate coupon (for a bond): paid every 12 / `perYear` months counted from the issue date (`closesAt`), the
 * last on `maturesAt`, to the holders of record `recordDays` days before each payment.
 */
export const CouponTermsSchema = z.strictObject({
  /** Yearly rate in basis points of the unit price (350 = 3.50 %). */
  rateBps: z.number().int().min(1).max(10_000),
  perYear: z.union([z.literal(1), z.literal(2), z.literal(4)]),
  recordDays: z.number().int().min(0).max(30).default(1),
});

export const OfferingTermsSchema = z
  .strictObject({
    id: z.string().regex(OFFERING_ID_PATTERN, 'must be 3 to 64 lowercase letters, digits and dashes'),
    name: z.string().trim().min(1).max(200),
    kind: z.enum(['green-bond', 'bond', 'equity', 'fund', 'other']),
    token: z.strictObject({
      name: z.string().trim().min(1).max(100),
      symbol: z.string().regex(/^[A-Z0-9]{2,11}$/, 'must be 2 to 11 uppercase letters or digits'),
      /** Token base units per offering unit are 10^decimals. */
      decimals: z.number().int().min(0).max(18),
    }),
    /** Units offered. */
    amount: units(),
    unitPrice: z.strictObject({
      amount: z.number().int('must be whole minor units').min(1).max(MAX_UNIT_PRICE),
      currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
    }),
    /** Smallest and largest ticket of one investor, in units. */
    minSubscription: units(),
    maxSubscription: units(),
    /**
     * How far the book may grow beyond `amount` (1 = not at all: first come, first served). Above 1, allocation at
     * close is pro-rata when the book is oversubscribed.
     */
    maxOversubscription: z.number().min(1).max(100).default(1),
    opensAt: isoDateTime(),
    closesAt: isoDateTime(),
    allowedJurisdictions: z.array(jurisdiction).min(1).max(249),
    acceptedAccreditation: z
      .array(accreditationLevel)
      .min(1)
      .default(['accredited', 'qualified', 'professional', 'institutional']),
    investorTypes: z.array(investorType).min(1).default(['individual', 'entity']),
    /** Subscriptions are refused until a certifier has certified the offering. */
    certificationRequired: z.boolean().default(true),
    /** Certifiers whose certification counts; empty: any certifier other than the issuer. */
    certifiers: z.array(did()).max(50).default([]),
    documents: z.array(OfferingDocumentSchema).min(1, 'at least the prospectus').max(50),
    /** When the units are redeemed at their unit price (bonds); none: no redemption. */
    maturesAt: isoDateTime().optional(),
    coupon: CouponTermsSchema.optional(),
  })
  .superRefine((t, ctx) => {
    if (t.minSubscription > t.maxSubscription) {
      ctx.addIssue({ code: 'custom', path: ['minSubscription'], message: 'must not exceed maxSubscription' });
    }
    if (t.maxSubscription > t.amount) {
      ctx.addIssue({ code: 'custom', path: ['maxSubscription'], message: 'must not exceed amount' });
    }
    if (Date.parse(t.closesAt) <= Date.parse(t.opensAt)) {
      ctx.addIssue({ code: 'custom', path: ['closesAt'], message: 'must be after opensAt' });
    }
    if (new Set(t.allowedJurisdictions).size !== t.allowedJurisdictions.length) {
      ctx.addIssue({ code: 'custom', path: ['allowedJurisdictions'], message: 'must not repeat a country' });
    }
    if (t.maturesAt !== undefined && Date.parse(t.maturesAt) <= Date.parse(t.closesAt)) {
      ctx.addIssue({ code: 'custom', path: ['maturesAt'], message: 'must be after closesAt' });
    }
    if (t.coupon && t.maturesAt === undefined) {
      ctx.addIssue({ code: 'custom', path: ['maturesAt'], message: 'a coupon needs a maturity date' });
    } else if (
      t.coupon &&
      t.maturesAt !== undefined &&
      couponDates(t.closesAt, t.maturesAt, t.coupon.perYear) === null
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['maturesAt'],
        message: `must fall on a coupon date: a whole number of ${12 / t.coupon.perYear}-month periods after closesAt (at most 100 periods)`,
      });
    }
    if (t.amount * t.unitPrice.amount > Number.MAX_SAFE_INTEGER) {
      ctx.addIssue({ code: 'custom', path: ['unitPrice'], message: 'amount × unitPrice is too large to be exact' });
    }
  });

export type OfferingTerms = z.output<typeof OfferingTermsSchema>;
export type CouponTerms = z.output<typeof CouponTermsSchema>;

/** `iso` plus `months` calendar months (UTC), the day clamped to the month's last day (31 Jan + 1 month = 28/29 Feb). */
export function addMonths(iso: string, months: number): Date {
  const d = new Date(iso);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1));
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay));
  target.setUTCHours(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
  return target;
}

/**
 * The payment dates of a coupon paid `perYear` times from `issuedAt` to `maturesAt` (both ISO 8601): every
 * 12 / perYear months, counted from the issue date each time (no drift from clamped days). Null when `maturesAt`
 * is not one of those dates, or more than 100 periods away.
 */
export function couponDates(issuedAt: string, maturesAt: string, perYear: 1 | 2 | 4): Date[] | null {
  const step = 12 / perYear;
  const end = Date.parse(maturesAt);
  const dates: Date[] = [];
  for (let k = 1; k <= 100; k++) {
    const d = addMonths(issuedAt, k * step);
    if (d.getTime() > end) return null;
    dates.push(d);
    if (d.getTime() === end) return dates;
  }
  return null;
}
export type OfferingTermsInput = z.input<typeof OfferingTermsSchema>;
export type OfferingDocument = z.output<typeof OfferingDocumentSchema>;

/**
 * Validate offering terms from outside. Every problem is listed in `details` as `{ path, message }`.
 *
 * @example parseTerms({ id: 'gb-2030', name: 'Marseille Solar Green Bond 2030', kind: 'green-bond', … })
 */
export function parseTerms(input: unknown): Result<OfferingTerms> {
  const parsed = OfferingTermsSchema.safeParse(input);
  if (parsed.success) return ok(parsed.data);
  const issues = parsed.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(terms)',
    message: i.message,
  }));
  return err(
    'ERR_OFFERING_TERMS_INVALID',
    `offering terms are invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  );
}

/** The subject a certification credential names when it is about this offering. */
export const offeringUrn = (id: string) => `urn:tessera:offering:${id}`;

/** The most the book may hold (units), given the allowed oversubscription. */
export const bookCap = (t: Pick<OfferingTerms, 'amount' | 'maxOversubscription'>) =>
  Math.floor(t.amount * t.maxOversubscription);
