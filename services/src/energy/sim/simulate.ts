import { type MeterReading, monthlyBills, type PeriodSettlement, settlePeriod } from '../market/billing.js';
import { type ClosedPeriod, OrderBook } from '../market/book.js';
import { tradeSummary } from '../market/clearing.js';
import { centsPerKwh, moneyOf, type Tariffs } from '../market/units.js';
import { Rng } from '../rng.js';
import {
  airTemperature,
  bdewFactor,
  CLOUD_STATE_NAMES,
  cloudIndex,
  type DayWeather,
  utcOffsetMs,
  weatherDays,
} from './environment.js';
import { type Household, makeHouseholds } from './household.js';
import type { SimParams } from './params.js';
import { dayOfYear, haurwitzGhi, planeOfArray, pvPowerKw, sunPosition } from './solar.js';

/** Called after each period is cleared and settled off chain (for on-chain settlement, monitoring). */
export type PeriodHook = (closed: ClosedPeriod, settlement: PeriodSettlement, week: string) => void;

export interface SlotRecord {
  startMs: number;
  /** Uniform clearing price, µ€/kWh (null: nothing traded, or pay-as-bid, which has none). */
  price: number | null;
  /** Volume-weighted mean trade price, µ€/kWh, under either rule (null: nothing traded). */
  meanPrice: number | null;
  volumeWh: number;
  /** What the slot's trades are worth, n€ (Σ energy × trade price). */
  valueNanoEur: bigint;
  orders: number;
  trades: number;
  loadWh: number;
  solarWh: number;
  gridImportWh: number;
  gridExportWh: number;
}

export interface HouseholdBill {
  participant: string;
  kWp: number;
  battery: boolean;
  /** n€ owed over the week (negative: paid out). */
  net: bigint;
  /** What the same meter readings would have cost with no local market (import at retail, export at feed-in). */
  baseline: bigint;
  boughtWh: number;
  soldWh: number;
}

export interface WeekSummary {
  label: string;
  days: number;
  cloudDays: Record<string, number>;
  loadKwh: number;
  solarKwh: number;
  tradedKwh: number;
  gridImportKwh: number;
  gridExportKwh: number;
  /** Share of demand not bought from the grid: 1 − grid import / load. */
  selfSufficiency: number;
  /** Share of solar production used in the neighbourhood: 1 − grid export / solar. */
  selfConsumption: number;
  /** Volume-weighted mean trade price over the week, c€/kWh (under uniform pricing, of the clearing prices). */
  meanPriceCents: number;
  minPriceCents: number;
  maxPriceCents: number;
  slotsWithTrades: number;
  communityBillEur: number;
  baselineBillEur: number;
  savingsEur: number;
  /** Σ metered net energy − net grid energy over all slots (must be 0). */
  energyImbalanceWh: number;
  /** Σ of all credit movements over all slots, n€ (must be 0). */
  moneyImbalance: bigint;
  orders: number;
}

export interface WeekResult {
  summary: WeekSummary;
  slots: SlotRecord[];
  bills: HouseholdBill[];
  settlements: PeriodSettlement[];
}

export interface SimResult {
  params: SimParams;
  weeks: WeekResult[];
  wallMs: number;
}

const tariffsOf = (p: SimParams): Tariffs => ({
  retail: centsPerKwh(p.tariffs.retailCents),
  feedIn: centsPerKwh(p.tariffs.feedInCents),
});

/** Energy (Wh) of each household's random appliance events over one day, by slot. */
function applianceEvents(h: Household, p: SimParams): Float64Array {
  const n = p.slotsPerDay;
  const slotMin = 1440 / n;
  const extra = new Float64Array(n);
  // Poisson count by inversion; events start between 07:00 and 22:00 local
  let count = 0;
  for (let acc = Math.exp(-p.load.applianceEventsPerDay), prod = h.rng.next(); prod > acc; prod *= h.rng.next())
    count++;
  for (let e = 0; e < count; e++) {
    const start = Math.floor(((7 + h.rng.next() * 15) * 60) / slotMin);
    const kw = p.load.appliancePowerKw[0] + h.rng.next() * (p.load.appliancePowerKw[1] - p.load.appliancePowerKw[0]);
    const minutes =
      p.load.applianceMinutes[0] + h.rng.next() * (p.load.applianceMinutes[1] - p.load.applianceMinutes[0]);
    for (let m = 0, s = start; m < minutes && s < n; m += slotMin, s++)
      extra[s] = extra[s]! + (kw * 1000 * Math.min(slotMin, minutes - m)) / 60;
  }
  return extra;
}

/**
 * The ramp strategy: a buyer's willingness climbs from about feed-in to about retail, a seller's falls
 * from about retail to about feed-in. A call auction sees the ramp at once, so it is discretised into `tranches`
 * equal slices of the forecast quantity, each at its point of the ramp with a random offset within its step.
 */
export function rampOrders(
  h: Household,
  forecastNetWh: number,
  p: SimParams,
  t: Tariffs,
): { id: string; participant: string; meterId: string; side: 'bid' | 'offer'; energyWh: number; limitPrice: number }[] {
  const total = Math.round(Math.abs(forecastNetWh));
  const n = p.bidding.tranches;
  if (total < n) return [];
  const side = forecastNetWh > 0 ? 'bid' : 'offer';
  const base = Math.floor(total / n);
  const out = [];
  for (let k = 0; k < n; k++) {
    const f = (k + h.rng.next()) / n;
    const span = t.retail - t.feedIn;
    out.push({
      id: `h${h.index}t${k}`,
      participant: h.participant,
      meterId: h.meterId,
      side,
      energyWh: k === 0 ? total - base * (n - 1) : base,
      limitPrice: Math.round(side === 'bid' ? t.retail - span * f : t.feedIn + span * f),
    } as const);
  }
  return out;
}

/** Run one week; `rng` drives the weather, each household has its own stream. */
function simulateWeek(
  p: SimParams,
  week: SimParams['weeks'][number],
  households: Household[],
  rng: Rng,
  onProgress?: (label: string, done: number, total: number) => void,
  onPeriod?: PeriodHook,
): WeekResult {
  const t = tariffsOf(p);
  const n = p.slotsPerDay;
  const slotMs = 86_400_000 / n;
  const slotH = 24 / n;
  const noon = Date.UTC(p.year, week.month - 1, week.day, 12);
  const midnight = Date.UTC(p.year, week.month - 1, week.day) - utcOffsetMs(noon, p.site.timeZone);
  const weather: DayWeather[] = weatherDays(rng, p, week.month, week.days);
  const slots: SlotRecord[] = [];
  const settlements: PeriodSettlement[] = [];
  const bills = households.map(
    (h): HouseholdBill => ({
      participant: h.participant,
      kWp: h.solar?.kWp ?? 0,
      battery: h.battery !== undefined,
      net: 0n,
      baseline: 0n,
      boughtWh: 0,
      soldWh: 0,
    }),
  );
  let energyImbalanceWh = 0;
  let moneyImbalance = 0n;
  let orderCount = 0;
  for (const h of households) if (h.battery) h.battery.socWh = h.battery.capacityWh / 2;
  const eventWhPerDay =
    p.load.applianceEventsPerDay *
    ((p.load.appliancePowerKw[0] + p.load.appliancePowerKw[1]) / 2) *
    1000 *
    ((p.load.applianceMinutes[0] + p.load.applianceMinutes[1]) / 2 / 60);
  for (let d = 0; d < week.days; d++) {
    const w = weather[d]!;
    const events = households.map((h) => applianceEvents(h, p));
    for (let s = 0; s < n; s++) {
      const startMs = midnight + (d * n + s) * slotMs;
      const localHour = (s + 0.5) * slotH;
      const localDoy = dayOfYear(startMs + utcOffsetMs(startMs, p.site.timeZone)).day;
      const sun = sunPosition(startMs + slotMs / 2, p.site.latDeg, p.site.lonDeg);
      const ghi = haurwitzGhi(sun.cosZenith) * (sun.cosZenith > 0 ? cloudIndex(rng, p, w.cloud) : 0);
      const air = airTemperature(p, localDoy, localHour, w.anomalyC);
      const seasonal = bdewFactor(localDoy);
      const periodId = Math.round(startMs / slotMs);
      const book = new OrderBook(periodId, t, p.bidding.rule);
      const readings: MeterReading[] = [];
      let loadWh = 0;
      let solarWh = 0;
      for (const h of households) {
        const scale = Math.sqrt(h.annualKwh / p.load.annualMedianKwh);
        // appliance events are part of the yearly budget, not on top of it
        const dailyWh = Math.max(0.3 * ((h.annualKwh * 1000) / 365), (h.annualKwh * 1000) / 365 - eventWhPerDay);
        let load =
          dailyWh * seasonal * (h.shape[s]! / n) * Math.max(0, 1 + h.rng.normal(0, p.load.slotNoiseSd)) +
          events[h.index]![s]!;
        if (h.heating) {
          const threshold = p.heating.thresholdC - (localHour < 6 || localHour >= 23 ? 3 : 0); // night set-back
          load += p.heating.kwPerK * scale * Math.max(0, threshold - air) * 1000 * slotH;
        }
        if (h.cooling && localHour >= 10 && localHour < 23)
          load += p.cooling.kwPerK * scale * Math.max(0, air - p.cooling.thresholdC) * 1000 * slotH;
        const pv = h.solar
          ? pvPowerKw(h.solar.kWp, planeOfArray(ghi, sun, h.solar.panel), air, p.pv) * 1000 * slotH
          : 0;
        loadWh += load;
        solarWh += pv;
        let net = load - pv;
        const b = h.battery;
        if (b) {
          const limit = b.powerW * slotH;
          if (net < 0) {
            const charge = Math.min(-net, limit, (b.capacityWh - b.socWh) / b.efficiency);
            b.socWh += charge * b.efficiency;
            net += charge;
          } else {
            const discharge = Math.min(net, limit, b.socWh * b.efficiency);
            b.socWh -= discharge / b.efficiency;
            net -= discharge;
          }
        }
        const netWh = Math.round(net);
        readings.push({
          participant: h.participant,
          meterId: h.meterId,
          consumedWh: Math.max(0, netWh),
          producedWh: Math.max(0, -netWh),
        });
        const forecast = net * (1 + h.rng.normal(0, p.bidding.forecastErrorSd));
        for (const o of rampOrders(h, forecast, p, t)) {
          const r = book.submit(o);
          if (!r.ok) throw new Error(`simulated order refused: ${r.error.code} ${r.error.message}`);
          orderCount++;
        }
      }
      const closed = book.close();
      const settled = settlePeriod(periodId, startMs, closed.clearing, readings, t);
      if (!settled.ok) throw new Error(`settlement failed: ${settled.error.code} ${settled.error.message}`);
      const st = settled.value;
      settlements.push(st);
      onPeriod?.(closed, st, week.label);
      const byParticipant = new Map(st.bills.map((b) => [b.participant, b]));
      for (const [i, h] of households.entries()) {
        const pb = byParticipant.get(h.participant)!;
        const r = readings[i]!;
        bills[i]!.net += pb.net;
        bills[i]!.baseline += moneyOf(r.consumedWh, t.retail) - moneyOf(r.producedWh, t.feedIn);
        bills[i]!.boughtWh += pb.boughtWh;
        bills[i]!.soldWh += pb.soldWh;
      }
      const metered = readings.reduce((a, r) => a + r.consumedWh - r.producedWh, 0);
      energyImbalanceWh += metered - (st.grid.importWh - st.grid.exportWh);
      moneyImbalance += st.transfers.reduce((a, x) => a + x.delta, 0n);
      const traded = tradeSummary(closed.clearing);
      slots.push({
        startMs,
        price: closed.clearing.price,
        meanPrice: traded.meanPrice,
        volumeWh: closed.clearing.volumeWh,
        valueNanoEur: traded.valueNanoEur,
        orders: closed.orders.length,
        trades: closed.clearing.trades.length,
        loadWh,
        solarWh,
        gridImportWh: st.grid.importWh,
        gridExportWh: st.grid.exportWh,
      });
      onProgress?.(week.label, d * n + s + 1, week.days * n);
    }
  }
  return {
    summary: summarise(week, weather, slots, bills, energyImbalanceWh, moneyImbalance, orderCount),
    slots,
    bills,
    settlements,
  };
}

/**
 * The week's trade prices, µ€/kWh: the volume-weighted mean (Σ value / Σ volume) and the lowest and highest slot mean,
 * over the slots that traded, under either pricing rule (0 when nothing traded).
 */
export function weekPrices(slots: readonly Pick<SlotRecord, 'meanPrice' | 'volumeWh' | 'valueNanoEur'>[]): {
  mean: number;
  min: number;
  max: number;
  slotsWithTrades: number;
} {
  const traded = slots.filter((s) => s.meanPrice !== null && s.volumeWh > 0);
  const volume = traded.reduce((a, s) => a + s.volumeWh, 0);
  const value = traded.reduce((a, s) => a + s.valueNanoEur, 0n);
  const means = traded.map((s) => s.meanPrice!);
  return {
    mean: volume > 0 ? Number(value) / volume : 0,
    min: means.length > 0 ? Math.min(...means) : 0,
    max: means.length > 0 ? Math.max(...means) : 0,
    slotsWithTrades: traded.length,
  };
}

function summarise(
  week: SimParams['weeks'][number],
  weather: DayWeather[],
  slots: SlotRecord[],
  bills: HouseholdBill[],
  energyImbalanceWh: number,
  moneyImbalance: bigint,
  orders: number,
): WeekSummary {
  const sum = (f: (s: SlotRecord) => number) => slots.reduce((a, s) => a + f(s), 0);
  const load = sum((s) => s.loadWh);
  const solar = sum((s) => s.solarWh);
  const traded = sum((s) => s.volumeWh);
  const imp = sum((s) => s.gridImportWh);
  const exp = sum((s) => s.gridExportWh);
  const prices = weekPrices(slots);
  const community = bills.reduce((a, b) => a + b.net, 0n);
  const baseline = bills.reduce((a, b) => a + b.baseline, 0n);
  const cloudDays: Record<string, number> = {};
  for (const w of weather) cloudDays[CLOUD_STATE_NAMES[w.cloud]] = (cloudDays[CLOUD_STATE_NAMES[w.cloud]] ?? 0) + 1;
  const cents = (microPerKwh: number) => microPerKwh / 10_000;
  return {
    label: week.label,
    days: week.days,
    cloudDays,
    loadKwh: load / 1000,
    solarKwh: solar / 1000,
    tradedKwh: traded / 1000,
    gridImportKwh: imp / 1000,
    gridExportKwh: exp / 1000,
    selfSufficiency: load > 0 ? 1 - imp / load : 0,
    selfConsumption: solar > 0 ? 1 - exp / solar : 0,
    meanPriceCents: cents(prices.mean),
    minPriceCents: cents(prices.min),
    maxPriceCents: cents(prices.max),
    slotsWithTrades: prices.slotsWithTrades,
    communityBillEur: Number(community) / 1e9,
    baselineBillEur: Number(baseline) / 1e9,
    savingsEur: Number(baseline - community) / 1e9,
    energyImbalanceWh,
    moneyImbalance,
    orders,
  };
}

/**
 * Simulate the neighbourhood for every configured week with one seed. Deterministic: the same parameters give
 * the same result, to the n€.
 */
export function simulate(
  p: SimParams,
  onProgress?: (label: string, done: number, total: number) => void,
  onPeriod?: PeriodHook,
): SimResult {
  const t0 = performance.now();
  const rng = new Rng(p.seed);
  const households = makeHouseholds(rng.fork(1), p);
  const weeks = p.weeks.map((w, i) => simulateWeek(p, w, households, rng.fork(100 + i), onProgress, onPeriod));
  return { params: p, weeks, wallMs: performance.now() - t0 };
}

/** Monthly bills of a week's settlements (each week lies in one month here, but the function does not assume it). */
export const weekMonthlyBills = (w: WeekResult) => monthlyBills(w.settlements);

/** PV yield of one kWp facing due south on a cloudless day (local calendar day), kWh/kWp. */
export function clearDayYield(p: SimParams, month: number, day: number): number {
  const n = p.slotsPerDay;
  const slotMs = 86_400_000 / n;
  const noon = Date.UTC(p.year, month - 1, day, 12);
  const midnight = Date.UTC(p.year, month - 1, day) - utcOffsetMs(noon, p.site.timeZone);
  const doy = dayOfYear(noon).day;
  let kwh = 0;
  for (let s = 0; s < n; s++) {
    const sun = sunPosition(midnight + (s + 0.5) * slotMs, p.site.latDeg, p.site.lonDeg);
    const poa = planeOfArray(haurwitzGhi(sun.cosZenith), sun, {
      tiltDeg: p.panel.tiltDeg,
      azimuthDeg: 180,
      albedo: p.panel.albedo,
    });
    kwh += pvPowerKw(1, poa, airTemperature(p, doy, ((s + 0.5) * 24) / n, 0), p.pv) * (24 / n);
  }
  return kwh;
}

/** Yearly PV yield of one kWp facing south with the Markov cloud model (a year of days), kWh/kWp. */
export function yearlyYield(p: SimParams, seed: number): number {
  const rng = new Rng(seed);
  let kwh = 0;
  for (let month = 1; month <= 12; month++) {
    const days = new Date(Date.UTC(p.year, month, 0)).getUTCDate();
    const weather = weatherDays(rng, p, month, days);
    for (let d = 1; d <= days; d++) {
      const w = weather[d - 1]!;
      const n = p.slotsPerDay;
      const slotMs = 86_400_000 / n;
      const noon = Date.UTC(p.year, month - 1, d, 12);
      const midnight = Date.UTC(p.year, month - 1, d) - utcOffsetMs(noon, p.site.timeZone);
      const doy = dayOfYear(noon).day;
      for (let s = 0; s < n; s++) {
        const sun = sunPosition(midnight + (s + 0.5) * slotMs, p.site.latDeg, p.site.lonDeg);
        if (sun.cosZenith <= 0) continue;
        const ghi = haurwitzGhi(sun.cosZenith) * cloudIndex(rng, p, w.cloud);
        const poa = planeOfArray(ghi, sun, { tiltDeg: p.panel.tiltDeg, azimuthDeg: 180, albedo: p.panel.albedo });
        kwh += pvPowerKw(1, poa, airTemperature(p, doy, ((s + 0.5) * 24) / n, w.anomalyC), p.pv) * (24 / n);
      }
    }
  }
  return kwh;
}
