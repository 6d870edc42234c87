import type { Rng } from '../rng.js';
import type { SimParams } from './params.js';

export type CloudState = 0 | 1 | 2;
export const CLOUD_STATE_NAMES = ['clear', 'partly cloudy', 'overcast'] as const;

export interface DayWeather {
  cloud: CloudState;
  /** Deviation of the day's temperature from the climatological mean, °C. */
  anomalyC: number;
}

const isSummerHalf = (month: number) => month >= 4 && month <= 9;

/**
 * Daily weather for `days` days from a three-state Markov chain (clear / partly cloudy / overcast), clearer in the
 * summer half of the year, and a daily temperature anomaly. The first day starts from the chain's stationary
 * distribution (approximated by 50 burn-in steps).
 */
export function weatherDays(rng: Rng, p: SimParams, month: number, days: number): DayWeather[] {
  const m = isSummerHalf(month) ? p.clouds.summer : p.clouds.winter;
  const step = (s: CloudState): CloudState => {
    const row = m[s]!;
    const u = rng.next();
    return u < row[0] ? 0 : u < row[0] + row[1] ? 1 : 2;
  };
  let s: CloudState = 0;
  for (let i = 0; i < 50; i++) s = step(s);
  const out: DayWeather[] = [];
  for (let d = 0; d < days; d++) {
    s = step(s);
    // overcast summer days are cooler, overcast winter nights milder: keep it simple, cooler by day in summer
    const cloudShift = isSummerHalf(month) ? -1.5 * s : 0;
    out.push({ cloud: s, anomalyC: rng.normal(0, p.temperature.dailyAnomalySdC) + cloudShift });
  }
  return out;
}

/** Clear-sky index for one slot of a day in `state` (noise within the day, clipped to [0.05, 1.05]). */
export function cloudIndex(rng: Rng, p: SimParams, state: CloudState): number {
  const v = rng.normal(p.clouds.index[state], p.clouds.noise[state]);
  return Math.min(1.05, Math.max(0.05, v));
}

/** Air temperature, °C: seasonal cosine (coldest on `coldestDay`) plus a diurnal cosine peaking at `peakHour`. */
export function airTemperature(p: SimParams, dayOfYear: number, localHour: number, anomalyC: number): number {
  const t = p.temperature;
  const seasonal = t.annualMeanC - t.seasonalAmplitudeC * Math.cos((2 * Math.PI * (dayOfYear - t.coldestDay)) / 365);
  const diurnal = t.diurnalAmplitudeC * Math.cos((2 * Math.PI * (localHour - t.peakHour)) / 24);
  return seasonal + diurnal + anomalyC;
}

/**
 * BDEW H0 dynamisation factor for day of year `t` (the standard-load-profile seasonal scaling):
 * F(t) = −3.92·10⁻¹⁰ t⁴ + 3.2·10⁻⁷ t³ − 7.02·10⁻⁵ t² + 2.1·10⁻³ t + 1.24 (≈ 1.24 in January, ≈ 0.8 in July).
 */
export function bdewFactor(t: number): number {
  return -3.92e-10 * t ** 4 + 3.2e-7 * t ** 3 - 7.02e-5 * t ** 2 + 2.1e-3 * t + 1.24;
}

/** UTC offset of `timeZone` at `ms`, in milliseconds (positive east of Greenwich). */
export function utcOffsetMs(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  }).formatToParts(new Date(ms));
  const get = (type: string) => Number(parts.find((x) => x.type === type)!.value);
  const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'));
  return local - Math.floor(ms / 60_000) * 60_000;
}
