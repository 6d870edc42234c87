/**
 * Units of the energy market. Everything is an integer so that sums never drift:
 *   energy  — watt-hours (Wh), a JS number (safe integer);
 *   price   — micro-euro per kWh (µ€/kWh), a JS number: 25 c€/kWh = 250_000 µ€/kWh;
 *   money   — nano-euro (n€), a bigint: Wh × µ€/kWh = n€ exactly (1 Wh × 1 µ€/kWh = 10⁻³ µ€ = 1 n€).
 * The energy-credit token has 9 decimals, so one token unit is one n€ and a whole token is one euro.
 */

/** Micro-euro per kWh in one euro-cent per kWh. */
export const MICRO_EUR_PER_CENT = 10_000;
/** Nano-euro in one euro (the token's 9 decimals). */
export const NANO_EUR_PER_EUR = 1_000_000_000n;

/** The largest energy a single order may carry: 1 MWh in one slot is already a 4 MW plant, not a household. */
export const MAX_ORDER_WH = 1_000_000;
/** The largest limit price accepted: 10 €/kWh, forty times the retail tariff. */
export const MAX_PRICE_UEUR_PER_KWH = 10_000_000;
/** Orders one participant may place in one period (keeps self-exclusion scans in clearing short). */
export const MAX_ORDERS_PER_PARTICIPANT = 32;

/** c€/kWh → µ€/kWh (rounded to the nearest µ€). */
export const centsPerKwh = (cents: number): number => Math.round(cents * MICRO_EUR_PER_CENT);

/** Money for `energyWh` at `price` µ€/kWh, in n€. */
export const moneyOf = (energyWh: number, price: number): bigint => BigInt(energyWh) * BigInt(price);

/** n€ → € as a number, for reports only (never for arithmetic). */
export const toEuro = (nanoEur: bigint): number => Number(nanoEur) / 1e9;

/** The grid tariffs that bound the market: the community never pays more than retail or gets less than feed-in. */
export interface Tariffs {
  /** What the grid charges for imported energy, µ€/kWh. */
  retail: number;
  /** What the grid pays for exported energy, µ€/kWh. */
  feedIn: number;
}

/** Marseille defaults: retail 25 c€/kWh, feed-in 6 c€/kWh. */
export const DEFAULT_TARIFFS: Tariffs = Object.freeze({ retail: centsPerKwh(25), feedIn: centsPerKwh(6) });
