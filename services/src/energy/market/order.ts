import { err, ok, type Result } from '@tessera/protocol';
import { z } from 'zod';
import { MAX_ORDER_WH, MAX_PRICE_UEUR_PER_KWH } from './units.js';

export type Side = 'bid' | 'offer';

/**
 * A limit order for one trading period. A bid buys up to `energyWh` at no more than `limitPrice`;
 * an offer sells up to `energyWh` at no less than `limitPrice` (µ€/kWh).
 */
export interface Order {
  id: string;
  /** The trading party (a DID); the same participant never trades with itself. */
  participant: string;
  /** The metering point the energy is delivered to or from (the EnergyProsumer credential's meterId). */
  meterId: string;
  side: Side;
  energyWh: number;
  limitPrice: number;
}

const AMOUNT_FIELDS = new Set(['energyWh', 'limitPrice']);

export const OrderSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1 to 128 letters, digits, . _ : -'),
  participant: z.string().min(3).max(256),
  meterId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$/, 'must be 3 to 64 letters, digits, . _ : -'),
  side: z.enum(['bid', 'offer']),
  energyWh: z.number().int('must be whole Wh').min(1, 'must be at least 1 Wh').max(MAX_ORDER_WH),
  limitPrice: z.number().int('must be whole µ€/kWh').min(0, 'must not be negative').max(MAX_PRICE_UEUR_PER_KWH),
});

/**
 * Validate an order from outside (HTTP body, agent). Problems with the amounts (negative, zero, fractional,
 * absurd) are `ERR_MARKET_AMOUNT_OUT_OF_RANGE`; anything else is `ERR_MARKET_ORDER_INVALID`. Every problem is listed.
 *
 * @example parseOrder({ id: 'o1', participant: 'did:ethr:0x…', meterId: 'FR-MRS-001', side: 'bid', energyWh: 500, limitPrice: 200_000 })
 */
export function parseOrder(input: unknown): Result<Order> {
  const parsed = OrderSchema.safeParse(input);
  if (parsed.success) return ok(parsed.data);
  const issues = parsed.error.issues.map((i) => ({
    path: i.path.map(String).join('.') || '(order)',
    message: i.message,
  }));
  const onlyAmounts = issues.every((i) => AMOUNT_FIELDS.has(i.path));
  return err(
    onlyAmounts ? 'ERR_MARKET_AMOUNT_OUT_OF_RANGE' : 'ERR_MARKET_ORDER_INVALID',
    issues.map((i) => `${i.path}: ${i.message}`).join('; '),
    issues,
  );
}
