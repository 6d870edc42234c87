import type { ChainFigures } from './chain.js';
import type { SimParams } from './params.js';
import type { SimResult, WeekResult, WeekSummary } from './simulate.js';

/** Mean and sample standard deviation. */
export function meanSd(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, x) => a + x, 0) / Math.max(1, xs.length);
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

const FIGURES = [
  'selfSufficiency',
  'selfConsumption',
  'meanPriceCents',
  'tradedKwh',
  'loadKwh',
  'solarKwh',
  'gridImportKwh',
  'gridExportKwh',
  'communityBillEur',
  'savingsEur',
] as const satisfies readonly (keyof WeekSummary)[];

/** Figures of every week as mean ± sd over the runs (one run per seed). */
export function aggregate(runs: SimResult[]): Record<string, Record<string, { mean: number; sd: number }>> {
  const out: Record<string, Record<string, { mean: number; sd: number }>> = {};
  for (const [i, week] of runs[0]!.weeks.entries()) {
    out[week.summary.label] = Object.fromEntries(
      FIGURES.map((f) => [f, meanSd(runs.map((r) => r.weeks[i]!.summary[f] as number))]),
    );
  }
  return out;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** The machine-readable report: parameters, figures per seed and aggregated, per-slot series and bills of the first seed. */
export function reportJson(runs: SimResult[], chain: Record<string, ChainFigures> = {}): unknown {
  const first = runs[0]!;
  return {
    params: first.params,
    chain,
    seeds: runs.map((r) => r.params.seed),
    aggregate: aggregate(runs),
    runs: runs.map((r) => ({
      seed: r.params.seed,
      wallMs: Math.round(r.wallMs),
      weeks: r.weeks.map((w) => ({ ...w.summary, moneyImbalance: w.summary.moneyImbalance.toString() })),
    })),
    series: first.weeks.map((w) => ({
      label: w.summary.label,
      startMs: w.slots.map((s) => s.startMs),
      priceCents: w.slots.map((s) => (s.price === null ? null : s.price / 10_000)),
      volumeKwh: w.slots.map((s) => s.volumeWh / 1000),
      gridImportKwh: w.slots.map((s) => r2(s.gridImportWh / 1000)),
      gridExportKwh: w.slots.map((s) => r2(s.gridExportWh / 1000)),
    })),
    bills: first.weeks.map((w) => ({
      label: w.summary.label,
      households: w.bills.map((b) => ({
        participant: b.participant,
        kWp: b.kWp,
        battery: b.battery,
        eur: Number(b.net) / 1e9,
        withoutMarketEur: Number(b.baseline) / 1e9,
        boughtKwh: b.boughtWh / 1000,
        soldKwh: b.soldWh / 1000,
      })),
    })),
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The human-readable final report. */
export function reportText(runs: SimResult[], chain: Record<string, ChainFigures> = {}): string {
  const agg = aggregate(runs);
  const lines: string[] = [];
  const p = runs[0]!.params;
  lines.push(
    `${p.households} households at ${p.site.latDeg} N ${p.site.lonDeg} E, ${p.slotsPerDay} slots/day, ` +
      `${p.bidding.rule} pricing, seeds ${runs.map((r) => r.params.seed).join(', ')}`,
  );
  const fmt = (v: { mean: number; sd: number }, f: (x: number) => string) =>
    runs.length > 1 ? `${f(v.mean)} ± ${f(v.sd)}` : f(v.mean);
  for (const [label, f] of Object.entries(agg)) {
    const w = runs[0]!.weeks.find((x) => x.summary.label === label)!.summary;
    lines.push('');
    lines.push(`${label} (${w.days} days; first seed's sky: ${JSON.stringify(w.cloudDays)})`);
    lines.push(`  load                 ${fmt(f.loadKwh!, (x) => `${x.toFixed(0)} kWh`)}`);
    lines.push(`  solar                ${fmt(f.solarKwh!, (x) => `${x.toFixed(0)} kWh`)}`);
    lines.push(`  traded locally       ${fmt(f.tradedKwh!, (x) => `${x.toFixed(0)} kWh`)}`);
    lines.push(
      `  grid import / export ${fmt(f.gridImportKwh!, (x) => x.toFixed(0))} / ${fmt(f.gridExportKwh!, (x) => `${x.toFixed(0)} kWh`)}`,
    );
    lines.push(`  mean clearing price  ${fmt(f.meanPriceCents!, (x) => `${x.toFixed(2)} c€/kWh`)} (volume-weighted)`);
    lines.push(`  self-sufficiency     ${fmt(f.selfSufficiency!, pct)}`);
    lines.push(`  self-consumption     ${fmt(f.selfConsumption!, pct)}`);
    lines.push(`  community bill       ${fmt(f.communityBillEur!, (x) => `${x.toFixed(2)} €`)}`);
    lines.push(`  saved vs no market   ${fmt(f.savingsEur!, (x) => `${x.toFixed(2)} €`)}`);
    lines.push(`  balance check        energy ${w.energyImbalanceWh} Wh, money ${w.moneyImbalance} n€`);
    const ch = chain[label];
    if (ch)
      lines.push(
        `  on chain (seed ${p.seed})   ${ch.transactions} settle transactions in ${ch.blocks} blocks, ` +
          `gas ${ch.gasPerPeriodMean.toLocaleString('en-US')} per period (max ${ch.gasPerPeriodMax.toLocaleString('en-US')}), ` +
          `${ch.gasPerAccount.toLocaleString('en-US')} per account movement, ${(ch.settleMs / 1000).toFixed(1)} s to settle`,
      );
    const bills = runs[0]!.weeks.find((x) => x.summary.label === label)!.bills.map((b) => Number(b.net) / 1e9);
    bills.sort((a, b) => a - b);
    lines.push(
      `  household bills      min ${bills[0]!.toFixed(2)} €, median ${bills[Math.floor(bills.length / 2)]!.toFixed(2)} €, max ${bills.at(-1)!.toFixed(2)} €`,
    );
  }
  return lines.join('\n');
}

/** An SVG chart per week: clearing price (line, left axis, with the tariff band) and traded volume (bars, right axis). */
export function reportSvg(result: SimResult): string {
  const W = 1100;
  const H = 260;
  const m = { l: 60, r: 60, t: 30, b: 30 };
  const p: SimParams = result.params;
  const panels = result.weeks.map((w, i) => panel(w, i * (H + 20), p));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${result.weeks.length * (H + 20)}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    ...panels,
    '</svg>',
    '',
  ].join('\n');

  function panel(w: WeekResult, y0: number, params: SimParams): string {
    const n = w.slots.length;
    const pw = W - m.l - m.r;
    const ph = H - m.t - m.b;
    const maxPrice = Math.max(params.tariffs.retailCents * 1.1, 1);
    const maxVol = Math.max(1, ...w.slots.map((s) => s.volumeWh / 1000));
    const x = (i: number) => m.l + (i / Math.max(1, n)) * pw;
    const yp = (c: number) => y0 + m.t + ph - (c / maxPrice) * ph;
    const yv = (kwh: number) => y0 + m.t + ph - (kwh / maxVol) * ph;
    const out: string[] = [];
    out.push(
      `<text x="${m.l}" y="${y0 + 18}" font-size="13">${w.summary.label}: clearing price (c€/kWh, line) and local volume (kWh per slot, bars)</text>`,
    );
    out.push(`<rect x="${m.l}" y="${y0 + m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
    const barW = Math.max(0.5, pw / Math.max(1, n) - 0.2);
    for (const [i, s] of w.slots.entries())
      if (s.volumeWh > 0)
        out.push(
          `<rect x="${x(i).toFixed(1)}" y="${yv(s.volumeWh / 1000).toFixed(1)}" width="${barW.toFixed(2)}" height="${(y0 + m.t + ph - yv(s.volumeWh / 1000)).toFixed(1)}" fill="#9ecae1"/>`,
        );
    for (const [c, label] of [
      [params.tariffs.retailCents, 'retail'],
      [params.tariffs.feedInCents, 'feed-in'],
    ] as const)
      out.push(
        `<line x1="${m.l}" x2="${m.l + pw}" y1="${yp(c).toFixed(1)}" y2="${yp(c).toFixed(1)}" stroke="#d62728" stroke-dasharray="4 3"/>`,
        `<text x="${m.l + pw - 40}" y="${(yp(c) - 3).toFixed(1)}" fill="#d62728">${label}</text>`,
      );
    let path = '';
    for (const [i, s] of w.slots.entries()) {
      if (s.price === null) continue;
      path += `${path === '' || w.slots[i - 1]?.price === null ? 'M' : 'L'}${(x(i) + barW / 2).toFixed(1)},${yp(s.price / 10_000).toFixed(1)}`;
    }
    out.push(`<path d="${path}" fill="none" stroke="#08306b" stroke-width="1.2"/>`);
    for (let k = 0; k <= 5; k++) {
      const c = (maxPrice * k) / 5;
      const v = (maxVol * k) / 5;
      out.push(`<text x="${m.l - 6}" y="${yp(c).toFixed(1)}" text-anchor="end">${c.toFixed(0)}</text>`);
      out.push(`<text x="${m.l + pw + 6}" y="${yv(v).toFixed(1)}">${v.toFixed(0)}</text>`);
    }
    const perDay = params.slotsPerDay;
    for (let d = 0; d * perDay < n; d++) {
      const date = new Date(w.slots[d * perDay]!.startMs + 43_200_000).toISOString().slice(5, 10);
      out.push(
        `<line x1="${x(d * perDay).toFixed(1)}" x2="${x(d * perDay).toFixed(1)}" y1="${y0 + m.t}" y2="${y0 + m.t + ph}" stroke="#ddd"/>`,
        `<text x="${(x(d * perDay) + 4).toFixed(1)}" y="${y0 + m.t + ph + 14}">${date}</text>`,
      );
    }
    return out.join('\n');
  }
}
