/**
 * `npm run sim:energy -- [--households N] [--seed S] [--seeds K] [--days D] [--week summer|winter|both]
 *                        [--rule uniform|pay-as-bid] [--out DIR] [--chain]`
 * Runs the neighbourhood simulation, prints progress and a final report, and writes DIR/report.json and
 * DIR/chart.svg (price and volume per slot; DIR defaults to .tessera/sim-energy). With --chain the first seed's periods
 * are also settled on a fresh anvil through the outbox, one EnergyCredit.settle per period, and the report adds the
 * chain figures (transactions, gas per period, blocks). Parameters: docs/energy-simulation.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import type { PeriodSettlement } from '../market/billing.js';
import type { ClosedPeriod } from '../market/book.js';
import { type ChainFigures, settleOnAnvil } from './chain.js';
import { SIM_DEFAULTS, type SimParams } from './params.js';
import { reportJson, reportSvg, reportText } from './report.js';
import { type SimResult, simulate } from './simulate.js';

const Args = z.strictObject({
  households: z.coerce.number().int().min(2).max(100_000).default(SIM_DEFAULTS.households),
  seed: z.coerce
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .default(SIM_DEFAULTS.seed),
  seeds: z.coerce.number().int().min(1).max(50).default(3),
  days: z.coerce.number().int().min(1).max(31).default(7),
  week: z.enum(['summer', 'winter', 'both']).default('both'),
  rule: z.enum(['uniform', 'pay-as-bid']).default('uniform'),
  out: z.string().min(1).default('.tessera/sim-energy'),
});

function fail(message: string): never {
  console.error(`error ERR_BAD_REQUEST: ${message}`);
  process.exit(2);
}

let raw: Record<string, string | undefined>;
let onChain = false;
try {
  const { chain, ...values } = parseArgs({
    options: {
      ...Object.fromEntries(Object.keys(Args.shape).map((k) => [k, { type: 'string' as const }])),
      chain: { type: 'boolean' as const },
    },
    strict: true,
  }).values as Record<string, string | boolean | undefined>;
  onChain = chain === true;
  raw = values as Record<string, string | undefined>;
} catch (e) {
  fail((e as Error).message);
}
const parsed = Args.safeParse(Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)));
if (!parsed.success) fail(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
const a = parsed.data;

const params: SimParams = {
  ...SIM_DEFAULTS,
  households: a.households,
  weeks: SIM_DEFAULTS.weeks.filter((w) => a.week === 'both' || w.label === a.week).map((w) => ({ ...w, days: a.days })),
  bidding: { ...SIM_DEFAULTS.bidding, rule: a.rule },
};

const tty = process.stderr.isTTY;
let lastShown = -1;
const progress = (seed: number) => (label: string, done: number, total: number) => {
  const tenth = Math.floor((done / total) * 10);
  if (tty) {
    const width = 30;
    const filled = Math.round((done / total) * width);
    process.stderr.write(
      `\rseed ${seed} ${label.padEnd(7)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} slots`,
    );
    if (done === total) process.stderr.write('\n');
  } else if (tenth !== lastShown || done === total) {
    lastShown = done === total ? -1 : tenth;
    console.error(`seed ${seed} ${label}: ${done}/${total} slots`);
  }
};

const runs: SimResult[] = [];
// the first seed's periods, by week, when they are to be settled on chain
const periods = new Map<string, [ClosedPeriod, PeriodSettlement][]>();
for (let k = 0; k < a.seeds; k++) {
  const seed = a.seed + k;
  const collect =
    k === 0 && onChain
      ? (closed: ClosedPeriod, s: PeriodSettlement, week: string) => {
          const list = periods.get(week) ?? [];
          list.push([closed, s]);
          periods.set(week, list);
        }
      : undefined;
  runs.push(simulate({ ...params, seed }, progress(seed), collect));
}
const chain: Record<string, ChainFigures> = {};
for (const [label, list] of periods) {
  const participants = runs[0]!.weeks.find((w) => w.summary.label === label)!.bills.map((b) => b.participant);
  chain[label] = await settleOnAnvil(list, participants, (what, done, total) =>
    progress(a.seed)(`${label} ${what}`, done, total),
  );
}
const out = resolve(a.out);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'report.json'), `${JSON.stringify(reportJson(runs, chain), null, 2)}\n`);
writeFileSync(join(out, 'chart.svg'), reportSvg(runs[0]!));
console.log(reportText(runs, chain));
console.log('');
console.log(`wall time ${runs.map((r) => `${(r.wallMs / 1000).toFixed(1)} s`).join(', ')}`);
console.log(`wrote ${join(out, 'report.json')} and ${join(out, 'chart.svg')}`);
