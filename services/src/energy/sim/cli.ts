/**
 * `npm run sim:energy -- [options]`: the neighbourhood simulation of the energy market. Prints progress and a final
 * report, writes DIR/report.json and DIR/chart.svg (clearing price and traded volume per slot). With --chain the first
 * seed's periods are also settled on a fresh anvil through the outbox, one EnergyCredit.settle per period, and the report
 * adds the chain figures. Parameters and models: docs/energy-simulation.md. `npm run sim:energy -- --help` lists the
 * options and exit codes.
 */
import {
  type Command,
  CliFailure,
  cliProgram,
  finishProgram,
  integerArg,
  isMain,
  Option,
  runCli,
} from '@tessera/runtime/cli';
import { SIM_DEFAULTS } from './params.js';

/** The simulation ran, but energy or money does not balance to zero across participants and the grid. */
export const EXIT_IMBALANCE = 3;

export interface EnergySimOptions {
  households: number;
  seed: number;
  seeds: number;
  days: number;
  week: 'summer' | 'winter' | 'both';
  rule: 'uniform' | 'pay-as-bid';
  out: string;
  chain: boolean;
}

/** Run the simulation and write the report; returns the exit code (0, or EXIT_IMBALANCE). */
export async function runEnergySim(a: EnergySimOptions): Promise<number> {
  const [{ mkdirSync, writeFileSync }, { join, resolve }, report, { simulate }] = await Promise.all([
    import('node:fs'),
    import('node:path'),
    import('./report.js'),
    import('./simulate.js'),
  ]);
  type ClosedPeriod = import('../market/book.js').ClosedPeriod;
  type PeriodSettlement = import('../market/billing.js').PeriodSettlement;
  type ChainFigures = import('./chain.js').ChainFigures;
  const params = {
    ...SIM_DEFAULTS,
    households: a.households,
    weeks: SIM_DEFAULTS.weeks
      .filter((w) => a.week === 'both' || w.label === a.week)
      .map((w) => ({ ...w, days: a.days })),
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

  const runs: Awaited<ReturnType<typeof simulate>>[] = [];
  // the first seed's periods, by week, when they are to be settled on chain
  const periods = new Map<string, [ClosedPeriod, PeriodSettlement][]>();
  for (let k = 0; k < a.seeds; k++) {
    const seed = a.seed + k;
    const collect =
      k === 0 && a.chain
        ? (closed: ClosedPeriod, s: PeriodSettlement, week: string) => {
            const list = periods.get(week) ?? [];
            list.push([closed, s]);
            periods.set(week, list);
          }
        : undefined;
    runs.push(simulate({ ...params, seed }, progress(seed), collect));
  }
  const chain: Record<string, ChainFigures> = {};
  if (periods.size > 0) {
    const { settleOnAnvil } = await import('./chain.js');
    for (const [label, list] of periods) {
      const participants = runs[0]!.weeks.find((w) => w.summary.label === label)!.bills.map((b) => b.participant);
      chain[label] = await settleOnAnvil(list, participants, (what, done, total) =>
        progress(a.seed)(`${label} ${what}`, done, total),
      );
    }
  }
  const out = resolve(a.out);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'report.json'), `${JSON.stringify(report.reportJson(runs, chain), null, 2)}\n`);
  writeFileSync(join(out, 'chart.svg'), await report.reportSvg(runs[0]!));
  console.log(report.reportText(runs, chain));
  console.log('');
  console.log(`wall time ${runs.map((r) => `${(r.wallMs / 1000).toFixed(1)} s`).join(', ')}`);
  console.log(`wrote ${join(out, 'report.json')} and ${join(out, 'chart.svg')}`);
  const off = runs.flatMap((r) =>
    r.weeks.filter((w) => w.summary.energyImbalanceWh !== 0 || w.summary.moneyImbalance !== 0n),
  );
  if (off.length > 0)
    throw new CliFailure(
      'ERR_INTERNAL',
      `the balance check failed in ${off.length} week(s): energy or money does not sum to zero`,
      EXIT_IMBALANCE,
    );
  return 0;
}

export function energySimProgram(): Command {
  const program = cliProgram({
    name: 'npm run sim:energy --',
    description:
      'The neighbourhood energy market simulation: households with load, solar and batteries near Marseille bid in a call auction per 15-minute slot; prints the report (traded energy, clearing price, self-sufficiency, bills, balance check) and writes DIR/report.json and DIR/chart.svg.',
    exitCodes: [
      {
        code: EXIT_IMBALANCE,
        meaning: 'the balance check failed: energy or money does not sum to zero across households and the grid',
      },
    ],
    examples: [
      'npm run sim:energy -- --households 50 --days 2 --seeds 1',
      'npm run sim:energy -- --rule pay-as-bid --week summer --days 1 --seeds 1',
      'npm run sim:energy -- --households 20 --days 1 --seeds 1 --chain',
    ],
  });
  program
    .option('--households <n>', 'households in the neighbourhood', integerArg(2, 100_000), SIM_DEFAULTS.households)
    .option('--seed <n>', 'first seed', integerArg(0, 2 ** 32 - 1), SIM_DEFAULTS.seed)
    .option('--seeds <k>', 'how many seeds (runs) the figures are averaged over', integerArg(1, 50), 3)
    .option('--days <d>', 'days simulated in each week', integerArg(1, 31), 7)
    .addOption(
      new Option('--week <week>', 'which week: 15-21 July, 15-21 January, or both')
        .choices(['summer', 'winter', 'both'])
        .default('both'),
    )
    .addOption(
      new Option('--rule <rule>', 'pricing: one clearing price for all, or each trade at its buyer’s bid')
        .choices(['uniform', 'pay-as-bid'])
        .default('uniform'),
    )
    .option('--out <dir>', 'where report.json and chart.svg go', '.tessera/sim-energy')
    .option('--chain', "settle the first seed's periods on a fresh anvil (one EnergyCredit.settle per period)", false)
    .action(async (o: EnergySimOptions) => {
      await runEnergySim(o);
    });
  return finishProgram(program);
}

if (isMain(import.meta.url)) await runCli(energySimProgram());
