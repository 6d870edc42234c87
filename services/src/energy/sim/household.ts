import type { Rng } from '../rng.js';
import type { SimParams } from './params.js';
import type { PanelGeometry } from './solar.js';

export interface Battery {
  capacityWh: number;
  powerW: number;
  /** One-way efficiency (√ round trip). */
  efficiency: number;
  socWh: number;
}

/** One simulated household and its fixed characteristics. */
export interface Household {
  index: number;
  participant: string;
  meterId: string;
  /** Yearly consumption without heating and cooling, kWh. */
  annualKwh: number;
  /** Normalised daily load shape (mean 1 over the day's slots), already time-shifted for this household. */
  shape: Float64Array;
  solar?: { kWp: number; panel: PanelGeometry };
  battery?: Battery;
  heating: boolean;
  cooling: boolean;
  rng: Rng;
}

/** The daily load shape: base plus Gaussian morning, midday and evening peaks, shifted by `shiftH` hours. */
export function loadShape(p: SimParams, shiftH: number): Float64Array {
  const n = p.slotsPerDay;
  const shape = new Float64Array(n);
  let sum = 0;
  for (let s = 0; s < n; s++) {
    const h = ((s + 0.5) * 24) / n;
    let v = p.load.baseWeight;
    for (const peak of p.load.peaks) {
      // distance on the 24 h circle, so that a late evening peak wraps past midnight
      let d = Math.abs(h - (peak.hour + shiftH));
      d = Math.min(d, 24 - d);
      v += peak.weight * Math.exp(-0.5 * (d / peak.widthH) ** 2);
    }
    shape[s] = v;
    sum += v;
  }
  for (let s = 0; s < n; s++) shape[s] = (shape[s]! * n) / sum;
  return shape;
}

/** Draw the neighbourhood from the parameters (deterministic for a given generator). */
export function makeHouseholds(rng: Rng, p: SimParams): Household[] {
  const out: Household[] = [];
  const solarCount = Math.round(p.households * p.solarShare);
  const batteryCount = Math.round(solarCount * p.batteryShareOfSolar);
  const eta = Math.sqrt(p.battery.roundTripEfficiency);
  for (let i = 0; i < p.households; i++) {
    const own = rng.fork(i);
    const id = String(i + 1).padStart(4, '0');
    const h: Household = {
      index: i,
      participant: `did:sim:household-${id}`,
      meterId: `FR-MRS-${id}`,
      annualKwh: p.load.annualMedianKwh * Math.exp(own.normal(0, p.load.annualSigmaLog)),
      shape: loadShape(p, own.normal(0, p.load.timeShiftSdH)),
      heating: own.next() < p.heating.share,
      cooling: own.next() < p.cooling.share,
      rng: own,
    };
    // the first solarCount households carry PV, the first batteryCount of those a battery: shares are exact
    if (i < solarCount) {
      let u = own.next();
      let kWp = p.solarSizes.at(-1)!.kWp;
      for (const size of p.solarSizes) {
        if (u < size.share) {
          kWp = size.kWp;
          break;
        }
        u -= size.share;
      }
      h.solar = {
        kWp,
        panel: {
          tiltDeg: p.panel.tiltDeg,
          azimuthDeg: 180 + (own.next() * 2 - 1) * p.panel.azimuthSpreadDeg,
          albedo: p.panel.albedo,
        },
      };
      if (i < batteryCount)
        h.battery = {
          capacityWh: p.battery.capacityKwh * 1000,
          powerW: p.battery.powerKw * 1000,
          efficiency: eta,
          socWh: 0,
        };
    }
    out.push(h);
  }
  return out;
}
