import { err, ok, type Result } from '@tessera/protocol';
import { z } from 'zod';
import type { Clearing } from './clearing.js';
import { MAX_ORDER_WH, moneyOf, type Tariffs } from './units.js';

/** Energy measured at one meter over one period (signed by its device upstream; checked here for shape and range). */
export interface MeterReading {
  participant: string;
  meterId: string;
  consumedWh: number;
  producedWh: number;
}

const whole = z.number().int().min(0).max(MAX_ORDER_WH);
const ReadingSchema = z.strictObject({
  participant: z.string().min(3).max(256),
  meterId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$/),
  consumedWh: whole,
  producedWh: whole,
});

/**
 * Validate a reading; `nameplateW` and `slotSeconds`, when given, bound production: a meter cannot deliver more than
 * its nameplate power over the slot.
 */
export function parseReading(
  input: unknown,
  limits?: { nameplateW: number; slotSeconds: number },
): Result<MeterReading> {
  const parsed = ReadingSchema.safeParse(input);
  if (!parsed.success)
    return err(
      'ERR_MARKET_READING_INVALID',
      parsed.error.issues.map((i) => `${i.path.join('.') || '(reading)'}: ${i.message}`).join('; '),
    );
  if (limits && parsed.data.producedWh > Math.floor((limits.nameplateW * limits.slotSeconds) / 3600))
    return err(
      'ERR_MARKET_READING_INVALID',
      `producedWh ${parsed.data.producedWh} exceeds nameplate ${limits.nameplateW} W over ${limits.slotSeconds} s`,
    );
  return ok(parsed.data);
}

/** One participant's bill for one period. Money in n€; `net` > 0 means the participant owes, < 0 it is paid. */
export interface PeriodBill {
  participant: string;
  consumedWh: number;
  producedWh: number;
  boughtWh: number;
  soldWh: number;
  /** Metered net import beyond what was bought locally: bought from the grid at retail. */
  gridImportWh: number;
  /** Metered net export beyond what was sold locally: sold to the grid at feed-in. */
  gridExportWh: number;
  marketPaid: bigint;
  marketReceived: bigint;
  gridPaid: bigint;
  gridReceived: bigint;
  net: bigint;
}

export interface GridPosition {
  importWh: number;
  exportWh: number;
  /** n€ the grid receives for imports, and pays for exports. */
  received: bigint;
  paid: bigint;
}

export interface PeriodSettlement {
  periodId: number;
  startMs: number;
  bills: PeriodBill[];
  grid: GridPosition;
  /** Credit movements (n€) per account, participants sorted by id then `GRID_ACCOUNT`; they sum to zero. */
  transfers: { account: string; delta: bigint }[];
}

/** The account name of the grid (the supplier of last resort) in transfers. */
export const GRID_ACCOUNT = 'grid';

const emptyBill = (participant: string): PeriodBill => ({
  participant,
  consumedWh: 0,
  producedWh: 0,
  boughtWh: 0,
  soldWh: 0,
  gridImportWh: 0,
  gridExportWh: 0,
  marketPaid: 0n,
  marketReceived: 0n,
  gridPaid: 0n,
  gridReceived: 0n,
  net: 0n,
});

/**
 * Settle one period: trades at their prices, then each participant's metered net energy is reconciled against its
 * traded net energy. A shortfall (more used, or less delivered, than traded) is bought from the grid at retail; an
 * excess is sold to the grid at feed-in. Unmatched orders need no special case: they simply traded nothing.
 * Every participant with a trade must have a reading (`ERR_MARKET_READING_MISSING`).
 */
export function settlePeriod(
  periodId: number,
  startMs: number,
  clearing: Clearing,
  readings: readonly MeterReading[],
  tariffs: Tariffs,
): Result<PeriodSettlement> {
  const bills = new Map<string, PeriodBill>();
  const bill = (p: string) => {
    let b = bills.get(p);
    if (!b) {
      b = emptyBill(p);
      bills.set(p, b);
    }
    return b;
  };
  const metered = new Set<string>();
  for (const r of readings) {
    const b = bill(r.participant);
    b.consumedWh += r.consumedWh;
    b.producedWh += r.producedWh;
    metered.add(r.participant);
  }
  for (const t of clearing.trades) {
    const m = moneyOf(t.energyWh, t.price);
    const buyer = bill(t.buyer);
    const seller = bill(t.seller);
    buyer.boughtWh += t.energyWh;
    buyer.marketPaid += m;
    seller.soldWh += t.energyWh;
    seller.marketReceived += m;
  }
  const missing = [...bills.keys()].filter((p) => !metered.has(p));
  if (missing.length > 0)
    return err('ERR_MARKET_READING_MISSING', `no meter reading for ${missing.length} trading participant(s)`, {
      participants: missing.slice(0, 20),
    });
  const grid: GridPosition = { importWh: 0, exportWh: 0, received: 0n, paid: 0n };
  const sorted = [...bills.values()].sort((a, b) => (a.participant < b.participant ? -1 : 1));
  for (const b of sorted) {
    const deviation = b.consumedWh - b.producedWh - (b.boughtWh - b.soldWh);
    if (deviation > 0) {
      b.gridImportWh = deviation;
      b.gridPaid = moneyOf(deviation, tariffs.retail);
    } else if (deviation < 0) {
      b.gridExportWh = -deviation;
      b.gridReceived = moneyOf(-deviation, tariffs.feedIn);
    }
    b.net = b.marketPaid + b.gridPaid - b.marketReceived - b.gridReceived;
    grid.importWh += b.gridImportWh;
    grid.exportWh += b.gridExportWh;
    grid.received += b.gridPaid;
    grid.paid += b.gridReceived;
  }
  const transfers = sorted.map((b) => ({ account: b.participant, delta: -b.net }));
  transfers.push({ account: GRID_ACCOUNT, delta: grid.received - grid.paid });
  return ok({ periodId, startMs, bills: sorted, grid, transfers });
}

/** A participant's bill over a calendar month (Europe/Paris), summed from its period bills. */
export interface MonthlyBill extends Omit<PeriodBill, 'participant'> {
  participant: string;
  month: string;
  periods: number;
}

const monthFmt = new Intl.DateTimeFormat('en-CA', { timeZone: 'Europe/Paris', year: 'numeric', month: '2-digit' });

/** Sum period bills into monthly bills per participant, keyed `YYYY-MM` in Europe/Paris local time. */
export function monthlyBills(settlements: readonly PeriodSettlement[]): MonthlyBill[] {
  const out = new Map<string, MonthlyBill>();
  for (const s of settlements) {
    const month = monthFmt.format(new Date(s.startMs)).slice(0, 7);
    for (const b of s.bills) {
      const key = `${month}\u0000${b.participant}`;
      let m = out.get(key);
      if (!m) {
        m = { ...emptyBill(b.participant), month, periods: 0 };
        out.set(key, m);
      }
      m.periods++;
      m.consumedWh += b.consumedWh;
      m.producedWh += b.producedWh;
      m.boughtWh += b.boughtWh;
      m.soldWh += b.soldWh;
      m.gridImportWh += b.gridImportWh;
      m.gridExportWh += b.gridExportWh;
      m.marketPaid += b.marketPaid;
      m.marketReceived += b.marketReceived;
      m.gridPaid += b.gridPaid;
      m.gridReceived += b.gridReceived;
      m.net += b.net;
    }
  }
  return [...out.values()].sort((a, b) =>
    a.month === b.month ? (a.participant < b.participant ? -1 : 1) : a.month < b.month ? -1 : 1,
  );
}
