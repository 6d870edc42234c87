/**
 * Every parameter of the neighbourhood simulation, named, with its unit and where its value comes from.
 * docs/energy-simulation.md lists them in a table; `SIM_DEFAULTS` is the only place the defaults live.
 * Values marked ~ are assumptions, chosen to be plausible for Marseille and tunable.
 */
export interface SimParams {
  site: { latDeg: number; lonDeg: number; timeZone: string };
  /** Calendar year of the simulated weeks. */
  year: number;
  /** Weeks to simulate: label, first local day (month 1–12, day) and number of days. */
  weeks: { label: string; month: number; day: number; days: number }[];
  slotsPerDay: number;
  households: number;
  /** Share of households with a PV array. */
  solarShare: number;
  /** Share of PV households that also have a battery. */
  batteryShareOfSolar: number;
  battery: { capacityKwh: number; powerKw: number; roundTripEfficiency: number };
  /** PV array sizes and their shares. */
  solarSizes: { kWp: number; share: number }[];
  panel: { tiltDeg: number; azimuthSpreadDeg: number; albedo: number };
  pv: { performanceRatio: number; tempCoefficient: number; noctC: number };
  clouds: {
    /** Mean clear-sky index (GHI / clear-sky GHI) of the states clear, partly cloudy, overcast. */
    index: [number, number, number];
    /** Slot-to-slot noise (sd of the index) within a day, per state. */
    noise: [number, number, number];
    /** Day-to-day transition matrices (rows: today's state; columns: tomorrow's), summer and winter. */
    summer: [number, number, number][];
    winter: [number, number, number][];
  };
  temperature: {
    annualMeanC: number;
    seasonalAmplitudeC: number;
    /** Day of year of the coldest day. */
    coldestDay: number;
    diurnalAmplitudeC: number;
    /** Local hour of the daily maximum. */
    peakHour: number;
    dailyAnomalySdC: number;
  };
  load: {
    /** Median yearly household consumption without heating or cooling, kWh (lognormal). */
    annualMedianKwh: number;
    annualSigmaLog: number;
    baseWeight: number;
    /** Daily peaks: local hour, relative weight, width (sd, hours). */
    peaks: { hour: number; weight: number; widthH: number }[];
    timeShiftSdH: number;
    slotNoiseSd: number;
    applianceEventsPerDay: number;
    appliancePowerKw: [number, number];
    applianceMinutes: [number, number];
  };
  heating: { share: number; thresholdC: number; kwPerK: number };
  cooling: { share: number; thresholdC: number; kwPerK: number };
  /** Tariffs in c€/kWh. */
  tariffs: { retailCents: number; feedInCents: number };
  bidding: { tranches: number; forecastErrorSd: number; rule: 'uniform' | 'pay-as-bid' };
  seed: number;
}

export const SIM_DEFAULTS: SimParams = {
  site: { latDeg: 43.3, lonDeg: 5.37, timeZone: 'Europe/Paris' },
  year: 2025,
  weeks: [
    { label: 'summer', month: 7, day: 15, days: 7 },
    { label: 'winter', month: 1, day: 15, days: 7 },
  ],
  slotsPerDay: 96,
  households: 200,
  solarShare: 0.4,
  batteryShareOfSolar: 0.1,
  battery: { capacityKwh: 5, powerKw: 2.5, roundTripEfficiency: 0.9 },
  solarSizes: [
    { kWp: 3, share: 0.6 },
    { kWp: 6, share: 0.3 },
    { kWp: 9, share: 0.1 },
  ],
  panel: { tiltDeg: 30, azimuthSpreadDeg: 30, albedo: 0.2 },
  pv: { performanceRatio: 0.86, tempCoefficient: -0.0035, noctC: 45 },
  clouds: {
    index: [1, 0.6, 0.25],
    noise: [0.02, 0.2, 0.08],
    summer: [
      [0.85, 0.12, 0.03],
      [0.55, 0.35, 0.1],
      [0.45, 0.35, 0.2],
    ],
    winter: [
      [0.6, 0.28, 0.12],
      [0.35, 0.4, 0.25],
      [0.25, 0.35, 0.4],
    ],
  },
  temperature: {
    annualMeanC: 15.5,
    seasonalAmplitudeC: 8.5,
    coldestDay: 20,
    diurnalAmplitudeC: 4.5,
    peakHour: 15,
    dailyAnomalySdC: 1.5,
  },
  load: {
    annualMedianKwh: 4000,
    annualSigmaLog: 0.35,
    baseWeight: 0.35,
    peaks: [
      { hour: 7.5, weight: 0.5, widthH: 1 },
      { hour: 12.5, weight: 0.35, widthH: 1.5 },
      { hour: 19.5, weight: 0.9, widthH: 1.8 },
    ],
    timeShiftSdH: 0.5,
    slotNoiseSd: 0.15,
    applianceEventsPerDay: 2,
    appliancePowerKw: [1, 2.5],
    applianceMinutes: [15, 60],
  },
  heating: { share: 0.35, thresholdC: 19, kwPerK: 0.1 },
  cooling: { share: 0.25, thresholdC: 26, kwPerK: 0.12 },
  tariffs: { retailCents: 25, feedInCents: 6 },
  bidding: { tranches: 4, forecastErrorSd: 0.1, rule: 'uniform' },
  seed: 1,
};
