/**
 * Solar geometry and photovoltaic output without downloaded data.
 *   - Sun position: NOAA General Solar Position Calculations (fractional-year series for the equation of time and
 *     the declination, then hour angle, zenith and azimuth).
 *   - Clear-sky global horizontal irradiance: Haurwitz (1945), GHI = 1098 · cos Z · exp(−0.059 / cos Z) W/m².
 *   - Split into beam and diffuse with the Erbs et al. (1982) correlation on the clearness index, then transposed to
 *     the panel plane with the isotropic-sky model (Liu–Jordan) plus ground reflection.
 *   - Panel output: kWp · POA/1000 · performance ratio · (1 + γ (T_cell − 25 °C)), T_cell by the NOCT model.
 */

const RAD = Math.PI / 180;
const DAY_MS = 86_400_000;

export interface SunPosition {
  /** Solar zenith angle, degrees (0 = overhead, > 90 = below the horizon). */
  zenithDeg: number;
  /** Azimuth, degrees clockwise from north (180 = due south). */
  azimuthDeg: number;
  /** cos of the zenith angle, clipped at 0 below the horizon. */
  cosZenith: number;
  dayOfYear: number;
}

/** Day of year (1–366) and UTC hour of a timestamp. */
export function dayOfYear(ms: number): { day: number; hour: number; daysInYear: number } {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  const start = Date.UTC(y, 0, 1);
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  return {
    day: Math.floor((ms - start) / DAY_MS) + 1,
    hour: ((ms - start) % DAY_MS) / 3_600_000,
    daysInYear: leap ? 366 : 365,
  };
}

/** Sun position at `ms` (UTC) for latitude/longitude in degrees (east positive), NOAA formulas. */
export function sunPosition(ms: number, latDeg: number, lonDeg: number): SunPosition {
  const { day, hour, daysInYear } = dayOfYear(ms);
  const g = ((2 * Math.PI) / daysInYear) * (day - 1 + (hour - 12) / 24);
  const eqTimeMin =
    229.18 *
    (0.000075 +
      0.001868 * Math.cos(g) -
      0.032077 * Math.sin(g) -
      0.014615 * Math.cos(2 * g) -
      0.040849 * Math.sin(2 * g));
  const decl =
    0.006918 -
    0.399912 * Math.cos(g) +
    0.070257 * Math.sin(g) -
    0.006758 * Math.cos(2 * g) +
    0.000907 * Math.sin(2 * g) -
    0.002697 * Math.cos(3 * g) +
    0.00148 * Math.sin(3 * g);
  const trueSolarMin = hour * 60 + eqTimeMin + 4 * lonDeg;
  const ha = (trueSolarMin / 4 - 180) * RAD;
  const lat = latDeg * RAD;
  const cosZ = Math.sin(lat) * Math.sin(decl) + Math.cos(lat) * Math.cos(decl) * Math.cos(ha);
  const zenith = Math.acos(Math.max(-1, Math.min(1, cosZ)));
  const azFromSouth = Math.atan2(Math.sin(ha), Math.cos(ha) * Math.sin(lat) - Math.tan(decl) * Math.cos(lat));
  return {
    zenithDeg: zenith / RAD,
    azimuthDeg: (azFromSouth / RAD + 180 + 360) % 360,
    cosZenith: Math.max(0, cosZ),
    dayOfYear: day,
  };
}

/** Haurwitz clear-sky GHI, W/m² (0 with the sun below the horizon). */
export function haurwitzGhi(cosZenith: number): number {
  return cosZenith > 0.01 ? 1098 * cosZenith * Math.exp(-0.059 / cosZenith) : 0;
}

/** Extraterrestrial normal irradiance, W/m² (solar constant 1367 corrected for the Earth–Sun distance). */
export const extraterrestrial = (dayOfYear: number): number =>
  1367 * (1 + 0.033 * Math.cos((2 * Math.PI * dayOfYear) / 365));

/** Erbs diffuse fraction of GHI from the clearness index kt. */
export function erbsDiffuseFraction(kt: number): number {
  if (kt <= 0.22) return 1 - 0.09 * kt;
  if (kt <= 0.8) return 0.9511 - 0.1604 * kt + 4.388 * kt ** 2 - 16.638 * kt ** 3 + 12.336 * kt ** 4;
  return 0.165;
}

export interface PanelGeometry {
  tiltDeg: number;
  /** Degrees clockwise from north; 180 faces due south. */
  azimuthDeg: number;
  /** Ground reflectance. */
  albedo: number;
}

/** Plane-of-array irradiance (W/m²) from GHI and the sun position. */
export function planeOfArray(ghi: number, sun: SunPosition, panel: PanelGeometry): number {
  if (ghi <= 0 || sun.cosZenith <= 0.01) return 0;
  const kt = Math.min(1, ghi / (extraterrestrial(sun.dayOfYear) * sun.cosZenith));
  const dhi = ghi * erbsDiffuseFraction(kt);
  const dni = (ghi - dhi) / sun.cosZenith;
  const tilt = panel.tiltDeg * RAD;
  const sinZ = Math.sqrt(1 - sun.cosZenith ** 2);
  const cosAoi =
    sun.cosZenith * Math.cos(tilt) + sinZ * Math.sin(tilt) * Math.cos((sun.azimuthDeg - panel.azimuthDeg) * RAD);
  return dni * Math.max(0, cosAoi) + (dhi * (1 + Math.cos(tilt))) / 2 + (ghi * panel.albedo * (1 - Math.cos(tilt))) / 2;
}

export interface PvModel {
  performanceRatio: number;
  /** Power temperature coefficient, 1/°C (crystalline silicon ≈ −0.004). */
  tempCoefficient: number;
  /** Nominal operating cell temperature, °C (cell at 800 W/m², 20 °C air). */
  noctC: number;
}

/** AC power in kW of a `kWp` array at plane-of-array irradiance `poa` W/m² and air temperature `airC`. */
export function pvPowerKw(kWp: number, poa: number, airC: number, m: PvModel): number {
  if (poa <= 0) return 0;
  const cell = airC + ((m.noctC - 20) / 800) * poa;
  return kWp * (poa / 1000) * m.performanceRatio * (1 + m.tempCoefficient * (cell - 25));
}
