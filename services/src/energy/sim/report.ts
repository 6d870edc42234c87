import { type ChartSpec, renderChartSvg } from '@tessera/runtime/charts';
import { MICRO_EUR_PER_CENT } from '../market/units.js';
import type { ChainFigures } from './chain.js';
import { utcOffsetMs } from './environment.js';
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
      priceCents: w.slots.map((s) => (s.meanPrice === null ? null : s.meanPrice / MICRO_EUR_PER_CENT)),
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
    lines.push(
      `  ${p.bidding.rule === 'uniform' ? 'mean clearing price ' : 'mean trade price    '} ${fmt(f.meanPriceCents!, (x) => `${x.toFixed(2)} c€/kWh`)} (volume-weighted${p.bidding.rule === 'uniform' ? '' : ', each trade at its buyer’s bid'})`,
    );
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

/** Local wall-clock time (Europe/Paris or the site's zone) as an ISO string read as UTC, so a utc scale shows local hours. */
const localIso = (ms: number, timeZone: string) => new Date(ms + utcOffsetMs(ms, timeZone)).toISOString();

/**
 * The chart of a run as a Vega-Lite spec, one panel per week: the traded volume per 15-minute slot (bars, right axis,
 * kWh), the price (line, left axis, c€/kWh: the clearing price under uniform pricing, the volume-weighted mean trade
 * price under pay-as-bid) and the retail and feed-in tariffs that bound it; the time axis in local hours.
 */
export function reportChartSpec(result: SimResult): ChartSpec {
  const p: SimParams = result.params;
  const priceName = p.bidding.rule === 'uniform' ? 'clearing price' : 'mean trade price (pay-as-bid)';
  const panel = (w: WeekResult): ChartSpec => {
    const x = {
      field: 't',
      type: 'temporal',
      scale: { type: 'utc' },
      axis: {
        title: `local time (${p.site.timeZone}), day and hour`,
        format: '%a %H:%M',
        tickCount: { interval: 'hours', step: w.summary.days > 2 ? 12 : 3 },
        labelAngle: -40,
        labelOverlap: true,
      },
    };
    const first = w.slots[0]?.startMs ?? 0;
    const last = w.slots.at(-1)?.startMs ?? 0;
    const day = (ms: number) => localIso(ms, p.site.timeZone).slice(0, 10);
    return {
      title: `${w.summary.label} ${day(first)} to ${day(last)}: ${priceName} and volume traded locally, per 15-minute slot`,
      width: 1000,
      height: 220,
      data: {
        values: w.slots.map((s) => ({
          t: localIso(s.startMs, p.site.timeZone),
          price: s.meanPrice === null ? null : s.meanPrice / MICRO_EUR_PER_CENT,
          volume: s.volumeWh / 1000,
        })),
      },
      layer: [
        {
          mark: { type: 'bar', color: '#9ecae1' },
          encoding: {
            x,
            y: {
              field: 'volume',
              type: 'quantitative',
              axis: { title: 'volume traded locally (kWh per slot)', orient: 'right', titleColor: '#3182bd' },
            },
          },
        },
        {
          layer: [
            {
              mark: { type: 'line', color: '#08306b', strokeWidth: 1.2, invalid: 'break-paths-filter-domains' },
              encoding: {
                x,
                y: {
                  field: 'price',
                  type: 'quantitative',
                  scale: { domain: [0, Math.ceil(p.tariffs.retailCents * 1.1)] },
                  axis: { title: `${priceName} (c€/kWh)`, titleColor: '#08306b' },
                },
              },
            },
            {
              data: {
                values: [
                  { tariff: `retail ${p.tariffs.retailCents} c€/kWh`, cents: p.tariffs.retailCents },
                  { tariff: `feed-in ${p.tariffs.feedInCents} c€/kWh`, cents: p.tariffs.feedInCents },
                ],
              },
              layer: [
                {
                  mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] },
                  encoding: { y: { field: 'cents', type: 'quantitative' } },
                },
                {
                  mark: { type: 'text', color: '#d62728', align: 'right', dy: -6, x: 'width' },
                  encoding: { y: { field: 'cents', type: 'quantitative' }, text: { field: 'tariff' } },
                },
              ],
            },
          ],
        },
      ],
      resolve: { scale: { y: 'independent' } },
    } as ChartSpec;
  };
  return { vconcat: result.weeks.map(panel) } as ChartSpec;
}

/** The chart of a run as a standalone SVG document (rendered on the server). */
export async function reportSvg(result: SimResult): Promise<string> {
  return renderChartSvg(reportChartSpec(result));
}
