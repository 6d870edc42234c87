/**
 * Energy market: clearing time for one period of 10,000 orders (target under 50 ms), p50/p99 over repeated
 * runs, against the textbook matcher that scans the whole book for the best remaining bid and offer before every
 * match (same book, same run, same allocation — checked). Also the wall time of one simulated summer day for 200
 * households (load and solar models, 96 order books, clearing and settlement of every slot), off chain and with
 * on-chain settlement (target under 60 s): every period enqueued through the outbox (SQLite) as one
 * EnergyCredit.settle transaction on a real anvil, the wall time covering simulation, enqueue, send and receipts.
 */
import { type BenchReport, percentile, ratio } from '@tessera/runtime';
import type { BenchContext } from '@tessera/runtime';
import { allocationHash, clear } from '../src/energy/market/clearing.js';
import { clearNaive } from '../src/energy/market/naive.js';
import { randomBook } from '../src/energy/market/testing.js';
import type { ClosedPeriod } from '../src/energy/market/book.js';
import type { PeriodSettlement } from '../src/energy/market/billing.js';
import { DEFAULT_TARIFFS } from '../src/energy/market/units.js';
import { settleOnAnvil } from '../src/energy/sim/chain.js';
import { SIM_DEFAULTS } from '../src/energy/sim/params.js';
import { simulate } from '../src/energy/sim/simulate.js';

const ORDERS = 10_000;
const RUNS = 200;
const NAIVE_RUNS = 7;

function timeRuns(n: number, books: ReturnType<typeof randomBook>[], f: (b: (typeof books)[number]) => unknown) {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const book = books[i % books.length]!;
    const t0 = performance.now();
    f(book);
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b);
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const books = Array.from({ length: 10 }, (_, i) => randomBook(1000 + i, ORDERS));
  // same allocation from both matchers on the benchmark's own input
  for (const b of books.slice(0, 2))
    if (allocationHash(0, clear(b, DEFAULT_TARIFFS)) !== allocationHash(0, clearNaive(b, DEFAULT_TARIFFS)))
      throw new Error('the fast and the naive matcher disagree on the benchmark book');
  timeRuns(20, books, (b) => clear(b, DEFAULT_TARIFFS)); // warm-up (JIT)
  ctx.progress('market: clearing', 0, RUNS + NAIVE_RUNS);
  const ours = timeRuns(RUNS, books, (b) => clear(b, DEFAULT_TARIFFS));
  ctx.progress('market: clearing', RUNS, RUNS + NAIVE_RUNS);
  const naive: number[] = [];
  for (let i = 0; i < NAIVE_RUNS; i++) {
    naive.push(...timeRuns(1, [books[i % books.length]!], (b) => clearNaive(b, DEFAULT_TARIFFS)));
    ctx.progress('market: clearing', RUNS + i + 1, RUNS + NAIVE_RUNS);
  }
  naive.sort((a, b) => a - b);
  const trades = clear(books[0]!, DEFAULT_TARIFFS).trades.length;

  ctx.progress('market: simulated day', 0, 96);
  const day = simulate({ ...SIM_DEFAULTS, weeks: [{ ...SIM_DEFAULTS.weeks[0]!, days: 1 }] }, (_label, done, total) =>
    ctx.progress('market: simulated day', done, total),
  );

  const chained = await onChainDay(ctx);

  const figures = {
    clear_10k_p50_ms: round(percentile(ours, 50)),
    clear_10k_p99_ms: round(percentile(ours, 99)),
    sim_summer_day_200_households_ms: Math.round(day.wallMs),
    sim_summer_day_on_chain_ms: Math.round(chained.wallMs),
    settle_gas_per_period: Math.round(chained.gas / chained.periods),
    settle_gas_per_account: Math.round(chained.gas / chained.accounts),
    settle_transactions: chained.periods,
    settle_blocks: chained.blocks,
  };
  const baselines = {
    clear_10k_p50_ms: round(percentile(naive, 50)),
    clear_10k_p99_ms: round(percentile(naive, 99)),
  };
  return {
    bench: 'market',
    figures,
    baselines,
    ratios: {
      clear_10k_p50_ms: ratio(figures.clear_10k_p50_ms, baselines.clear_10k_p50_ms, false),
      clear_10k_p99_ms: ratio(figures.clear_10k_p99_ms, baselines.clear_10k_p99_ms, false),
    },
    machine: ctx.machine,
    notes: [
      `${ORDERS.toLocaleString('en-US')} orders per book (half bids, half offers, ${ORDERS / 4} participants), ~${trades} trades; ` +
        `${RUNS} timed runs over 10 books; baseline: scan-per-match matcher, ${NAIVE_RUNS} runs, same books, same allocation`,
      `targets: clearing under 50 ms; a simulated day with on-chain settlement under 60 s ` +
        `(${day.weeks[0]!.summary.orders} orders in 96 periods; ${chained.periods} settle transactions, ${chained.accounts} account movements)`,
    ],
  };
}

/** One simulated summer day with every period settled on a real anvil through the outbox. */
async function onChainDay(ctx: BenchContext) {
  const periods: [ClosedPeriod, PeriodSettlement][] = [];
  const sim = simulate({ ...SIM_DEFAULTS, weeks: [{ ...SIM_DEFAULTS.weeks[0]!, days: 1 }] }, undefined, (closed, s) =>
    periods.push([closed, s]),
  );
  const participants = sim.weeks[0]!.bills.map((b) => b.participant);
  const chain = await settleOnAnvil(periods, participants, (label, done, total) =>
    ctx.progress(`market: ${label}`, done, total),
  );
  return {
    wallMs: sim.wallMs + chain.settleMs,
    gas: chain.gasTotal,
    periods: chain.transactions,
    accounts: chain.accountMovements,
    blocks: chain.blocks,
  };
}
